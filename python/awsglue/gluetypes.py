"""Glue's type model (``awsglue.gluetypes``) and its mapping from/to Spark SQL types.

Glue names types by ``typeName()``: ``int``, ``long``, ``string``, ``decimal``, ``struct``, … and
``DecimalType()`` defaults to precision 10, scale 2. A :class:`DynamicRecord` is a ``dict`` whose
keys are also attributes, which is what ``Map``/``Filter`` functions receive.

>>> IntegerType.typeName(), LongType.typeName(), StructType.typeName()
('int', 'long', 'struct')
>>> d = DecimalType(); (d.precision, d.scale)
(10, 2)
>>> r = DynamicRecord({"a": 1}); r.a
1
"""

from __future__ import annotations

import json
from typing import Any

from pyspark.sql import types as T


class DataType:
    """Base of every Glue type; ``properties`` carries free-form metadata."""

    def __init__(self, properties: dict | None = None) -> None:
        self.properties = dict(properties or {})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, self.__class__) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(self.__class__.__name__)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.properties})"

    @classmethod
    def typeName(cls) -> str:
        """Glue's name for the type: the class name without ``Type``, lower-cased."""
        return cls.__name__[:-4].lower()

    def jsonValue(self) -> dict:
        return {"dataType": self.typeName(), "properties": self.properties}


class AtomicType(DataType):
    """A type without children."""


class BinaryType(AtomicType):
    pass


class BooleanType(AtomicType):
    pass


class ByteType(AtomicType):
    pass


class DateType(AtomicType):
    pass


class DecimalType(AtomicType):
    def __init__(self, precision: int = 10, scale: int = 2, properties: dict | None = None):
        super().__init__(properties)
        self.precision = precision
        self.scale = scale

    def __repr__(self) -> str:
        return f"DecimalType({self.precision}, {self.scale}, {self.properties})"

    def jsonValue(self) -> dict:
        return {**super().jsonValue(), "precision": self.precision, "scale": self.scale}


class DoubleType(AtomicType):
    pass


class EnumType(AtomicType):
    def __init__(self, options: list[str], properties: dict | None = None):
        super().__init__(properties)
        self.options = list(options)

    def jsonValue(self) -> dict:
        return {**super().jsonValue(), "options": self.options}


class FloatType(AtomicType):
    pass


class IntegerType(AtomicType):
    @classmethod
    def typeName(cls) -> str:
        return "int"


class LongType(AtomicType):
    pass


class NullType(AtomicType):
    pass


class ShortType(AtomicType):
    pass


class StringType(AtomicType):
    pass


class TimestampType(AtomicType):
    pass


class UnknownType(AtomicType):
    pass


class ArrayType(DataType):
    def __init__(self, elementType: DataType | None = None, properties: dict | None = None):
        super().__init__(properties)
        self.elementType = elementType if elementType is not None else UnknownType()

    def __repr__(self) -> str:
        return f"ArrayType({self.elementType}, {self.properties})"

    def jsonValue(self) -> dict:
        return {**super().jsonValue(), "elementType": self.elementType.jsonValue()}


class SetType(ArrayType):
    def __repr__(self) -> str:
        return f"SetType({self.elementType}, {self.properties})"


class MapType(DataType):
    """Glue maps always have string keys; only the value type is carried."""

    def __init__(self, valueType: DataType | None = None, properties: dict | None = None):
        super().__init__(properties)
        self.valueType = valueType if valueType is not None else UnknownType()

    def __repr__(self) -> str:
        return f"MapType({self.valueType}, {self.properties})"

    def jsonValue(self) -> dict:
        return {**super().jsonValue(), "valueType": self.valueType.jsonValue()}


class ChoiceType(DataType):
    """A field whose values have several types, keyed by type name."""

    def __init__(self, choices: list[DataType] | None = None, properties: dict | None = None):
        super().__init__(properties)
        self.choices: dict[str, DataType] = {}
        for choice in choices or []:
            self.add(choice)

    def add(self, new_choice: DataType) -> None:
        if new_choice.typeName() in self.choices:
            raise ValueError("Attempting to insert duplicate choice", new_choice)
        self.choices[new_choice.typeName()] = new_choice

    def __repr__(self) -> str:
        inner = ",".join(str(self.choices[k]) for k in sorted(self.choices))
        return f"ChoiceType([{inner}], {self.properties})"

    def jsonValue(self) -> dict:
        return {
            **super().jsonValue(),
            "choices": [c.jsonValue() for c in self.choices.values()],
        }


class Field:
    """A named member of a :class:`StructType`."""

    def __init__(self, name: str, dataType: DataType, properties: dict | None = None):
        if not isinstance(dataType, DataType):
            raise TypeError(f"dataType should be DataType. Got {dataType.__class__}")
        self.name = name
        self.dataType = dataType
        self.properties = dict(properties or {})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Field) and (self.name, self.dataType) == (
            other.name,
            other.dataType,
        )

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"Field({self.name}, {self.dataType}, {self.properties})"

    def jsonValue(self) -> dict:
        return {
            "name": self.name,
            "container": self.dataType.jsonValue(),
            "properties": self.properties,
        }


class StructType(DataType):
    def __init__(self, fields: list[Field] | None = None, properties: dict | None = None):
        super().__init__(properties)
        self.fields = list(fields or [])
        self.field_map = {f.name: f for f in self.fields}

    def __iter__(self):
        return iter(self.fields)

    def __repr__(self) -> str:
        return f"StructType([{','.join(str(f) for f in self.fields)}], {self.properties})"

    def add(self, field: Field) -> None:
        self.fields.append(field)
        self.field_map[field.name] = field

    def hasField(self, field: Field | str) -> bool:
        return (field.name if isinstance(field, Field) else field) in self.field_map

    def getField(self, field: Field | str) -> Field:
        return self.field_map[field.name if isinstance(field, Field) else field]

    def jsonValue(self) -> dict:
        return {**super().jsonValue(), "fields": [f.jsonValue() for f in self.fields]}


class EntityType(DataType):
    def __init__(self, entity: Any = None, base_type: Any = None, properties: dict | None = None):
        raise NotImplementedError("EntityType is not supported by epoxy's awsglue")


class DynamicRecord(dict):
    """A record passed to ``Map``/``Filter`` functions: a dict with attribute access."""

    def __getattr__(self, attr: str) -> Any:
        try:
            return self[attr]
        except KeyError:
            raise AttributeError(attr) from None

    def __setattr__(self, attr: str, value: Any) -> None:
        self[attr] = value


_SIMPLE_FROM_SPARK: dict[type, type[DataType]] = {
    T.BinaryType: BinaryType,
    T.BooleanType: BooleanType,
    T.ByteType: ByteType,
    T.DateType: DateType,
    T.DoubleType: DoubleType,
    T.FloatType: FloatType,
    T.IntegerType: IntegerType,
    T.LongType: LongType,
    T.NullType: NullType,
    T.ShortType: ShortType,
    T.StringType: StringType,
    T.TimestampType: TimestampType,
    T.TimestampNTZType: TimestampType,
}


def from_spark(dt: T.DataType) -> DataType:
    """The Glue type of a Spark SQL type."""
    if isinstance(dt, T.StructType):
        return StructType([Field(f.name, from_spark(f.dataType)) for f in dt.fields])
    if isinstance(dt, T.ArrayType):
        return ArrayType(from_spark(dt.elementType))
    if isinstance(dt, T.MapType):
        return MapType(from_spark(dt.valueType))
    if isinstance(dt, T.DecimalType):
        return DecimalType(dt.precision, dt.scale)
    simple = _SIMPLE_FROM_SPARK.get(type(dt))
    if simple is None:
        return StringType() if isinstance(dt, (T.CharType, T.VarcharType)) else UnknownType()
    return simple()


def to_spark(dt: DataType) -> T.DataType:
    """The Spark SQL type of a Glue type (choice → string, map keys → string)."""
    if isinstance(dt, StructType):
        return T.StructType([T.StructField(f.name, to_spark(f.dataType)) for f in dt.fields])
    if isinstance(dt, ArrayType):
        return T.ArrayType(to_spark(dt.elementType))
    if isinstance(dt, MapType):
        return T.MapType(T.StringType(), to_spark(dt.valueType))
    if isinstance(dt, DecimalType):
        return T.DecimalType(dt.precision, dt.scale)
    for spark_cls, glue_cls in _SIMPLE_FROM_SPARK.items():
        if type(dt) is glue_cls:
            return spark_cls()
    return T.StringType()


def schema_tree(schema: StructType) -> str:
    """Glue's ``printSchema`` text: ``root`` then ``|-- name: type`` lines, nested by ``|    ``."""
    lines = ["root"]

    def walk(dt: DataType, depth: int) -> None:
        prefix = "|    " * depth + "|-- "
        if isinstance(dt, StructType):
            for f in dt.fields:
                lines.append(f"{prefix}{f.name}: {f.dataType.typeName()}")
                walk(f.dataType, depth + 1)
        elif isinstance(dt, ArrayType):
            lines.append(f"{prefix}element: {dt.elementType.typeName()}")
            walk(dt.elementType, depth + 1)
        elif isinstance(dt, MapType):
            lines.append(f"{prefix}keyType: string")
            lines.append(f"{prefix}valueType: {dt.valueType.typeName()}")
            walk(dt.valueType, depth + 1)
        elif isinstance(dt, ChoiceType):
            for name in sorted(dt.choices):
                lines.append(f"{prefix}{name}")
                walk(dt.choices[name], depth + 1)

    walk(schema, 0)
    return "\n".join(lines) + "\n"


_GLUE_TYPE_NAMES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "varchar": T.StringType(),
    "char": T.StringType(),
    "int": T.IntegerType(),
    "integer": T.IntegerType(),
    "long": T.LongType(),
    "bigint": T.LongType(),
    "short": T.ShortType(),
    "smallint": T.ShortType(),
    "byte": T.ByteType(),
    "tinyint": T.ByteType(),
    "double": T.DoubleType(),
    "float": T.FloatType(),
    "real": T.FloatType(),
    "boolean": T.BooleanType(),
    "bool": T.BooleanType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
    "binary": T.BinaryType(),
    "decimal": T.DecimalType(10, 2),
    "null": T.NullType(),
}


def parse_type_name(name: str) -> T.DataType:
    """A Spark type from a Glue or Spark type name (``long``, ``bigint``, ``decimal(12,4)``, ...).

    Plain ``decimal`` is Glue's default ``decimal(10,2)``; anything else Spark's DDL parser knows
    (``array<string>``, ``struct<a:int>``) is accepted too.

    >>> parse_type_name("decimal"), parse_type_name("Long")
    (DecimalType(10,2), LongType())
    """
    key = name.strip().lower()
    if key in _GLUE_TYPE_NAMES:
        return _GLUE_TYPE_NAMES[key]
    try:
        return T._parse_datatype_string(key)
    except Exception as e:  # Spark raises ParseException via py4j
        raise ValueError(f"Unknown type name '{name}'") from e


def _deserialize_json_string(json_str: str) -> DataType:
    return _from_json(json.loads(json_str))


def _from_json(value: dict) -> DataType:
    name = value["dataType"]
    props = value.get("properties", {})
    if name == "struct":
        return StructType(
            [
                Field(f["name"], _from_json(f["container"]), f.get("properties"))
                for f in value["fields"]
            ],
            props,
        )
    if name in ("array", "set"):
        cls = ArrayType if name == "array" else SetType
        return cls(_from_json(value["elementType"]), props)
    if name == "map":
        return MapType(_from_json(value["valueType"]), props)
    if name == "choice":
        return ChoiceType([_from_json(c) for c in value["choices"]], props)
    if name == "decimal":
        return DecimalType(value.get("precision", 10), value.get("scale", 2), props)
    if name == "enum":
        return EnumType(value.get("options", []), props)
    atomic = {c.typeName(): c for c in AtomicType.__subclasses__()}
    return atomic.get(name, UnknownType)(props)
