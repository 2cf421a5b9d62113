"""File listing and deletion through Hadoop's FileSystem, so local, file:// and s3:// paths work alike."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import SparkSession


@dataclass(frozen=True)
class FileEntry:
    path: str
    modified_ms: int


def _fs_and_path(spark: SparkSession, path: str):
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hpath


def list_files(spark: SparkSession, path: str, recursive: bool = True) -> list[FileEntry]:
    """Every file under ``path`` (or the file itself); nothing when the path does not exist."""
    fs, hpath = _fs_and_path(spark, path)
    if not fs.exists(hpath):
        return []
    found = []
    it = fs.listFiles(hpath, recursive)
    while it.hasNext():
        status = it.next()
        found.append(FileEntry(status.getPath().toString(), status.getModificationTime()))
    return found


def delete(spark: SparkSession, path: str) -> bool:
    fs, hpath = _fs_and_path(spark, path)
    return bool(fs.delete(hpath, True))


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Create (or overwrite) a small text file, e.g. a purge manifest."""
    fs, hpath = _fs_and_path(spark, path)
    out = fs.create(hpath, True)
    try:
        out.write(bytearray(text.encode("utf-8")))
    finally:
        out.close()
