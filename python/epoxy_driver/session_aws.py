"""The session's AWS identity inside the JVM, applied at the handover.

A warm driver's JVM starts before it belongs to any session, and a JVM's environment is fixed
at spawn, so the handover's AWS_* variables cannot reach Java by the environment. Instead:
Hadoop's S3A gets the session's keys in the Hadoop configuration (its credentials provider is
TemporaryAWSCredentialsProvider, so before this nothing reaches S3 as anyone), and the AWS SDK
for Java 2 (Iceberg's GlueCatalog and S3FileIO) gets them as the system properties it reads
first. S3A's second provider reads the SDK v1 system properties (`aws.secretKey` is v1's name):
the copies of the Hadoop configuration Spark made before the handover (its session catalog's)
have no keys. Iceberg catalogs that talk to Glue or S3 get epoxy's endpoints, which Glue users never
write (AWS's are implied there).
"""

import logging

log = logging.getLogger("epoxy_driver")

_CATALOG_PREFIX = "spark.sql.catalog."
_GLUE_CATALOG = "org.apache.iceberg.aws.glue.GlueCatalog"
_S3_FILE_IO = "org.apache.iceberg.aws.s3.S3FileIO"


def apply(spark, env):
    """Gives S3A and the JVM's AWS SDK the session's keys, region and endpoints."""
    key = env.get("AWS_ACCESS_KEY_ID")
    secret = env.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return
    token = env.get("AWS_SESSION_TOKEN", "")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    hadoop.set("fs.s3a.access.key", key)
    hadoop.set("fs.s3a.secret.key", secret)
    hadoop.set("fs.s3a.session.token", token)
    hadoop.set("fs.s3a.endpoint.region", region)
    system = spark._jvm.java.lang.System
    for name, value in (
        ("aws.accessKeyId", key),
        ("aws.secretAccessKey", secret),
        ("aws.secretKey", secret),
        ("aws.sessionToken", token),
        ("aws.region", region),
    ):
        system.setProperty(name, value)
    s3_endpoint = hadoop.get("fs.s3a.endpoint")
    glue_endpoint = env.get("AWS_ENDPOINT_URL_GLUE") or env.get("AWS_ENDPOINT_URL")
    for name, setting, value in iceberg_endpoints(
        dict(spark.sparkContext.getConf().getAll()), glue_endpoint, s3_endpoint
    ):
        spark.conf.set(f"{_CATALOG_PREFIX}{name}.{setting}", value)
        log.info("Iceberg catalog %s: %s = %s", name, setting, value)


def iceberg_endpoints(conf, glue_endpoint, s3_endpoint):
    """(catalog, setting, value) for each Iceberg catalog using Glue or S3FileIO that does not
    name the endpoint itself."""
    settings = []
    for key, value in sorted(conf.items()):
        if not key.startswith(_CATALOG_PREFIX):
            continue
        name = key[len(_CATALOG_PREFIX) :]
        if "." in name:
            continue
        prefix = f"{key}."
        glue = conf.get(f"{prefix}catalog-impl") == _GLUE_CATALOG
        s3 = glue or conf.get(f"{prefix}io-impl") == _S3_FILE_IO
        wanted = []
        if glue and glue_endpoint:
            wanted.append(("glue.endpoint", glue_endpoint))
        if s3 and s3_endpoint:
            wanted += [("s3.endpoint", s3_endpoint), ("s3.path-style-access", "true")]
        settings += [(name, s, v) for s, v in wanted if f"{prefix}{s}" not in conf]
    return settings
