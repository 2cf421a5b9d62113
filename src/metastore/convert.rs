//! Glue records ↔ Hive Metastore structs. Going out, every field Spark dereferences without a
//! null check is filled (table type, storage descriptor, serde info, parameter maps, database
//! location), since objects made through the Glue API often lack them. Coming in, what Spark
//! sends is kept as is: nothing is synthesized (no `numFiles`/`totalSize`), names are
//! lower-cased by the catalog service.

use super::messages as hms;
use crate::catalog::model as glue;
use crate::catalog::service::{EXTERNAL_TABLE, MANAGED_TABLE, VIRTUAL_VIEW};
use std::collections::BTreeMap;

/// Hive's name for a partition value that is null or empty.
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Hive's table parameter holding the last DDL time (seconds), set on every create and alter.
pub const DDL_TIME: &str = "transient_lastDdlTime";

fn seconds(t: Option<f64>) -> Option<i32> {
    t.map(|s| s.clamp(0.0, f64::from(i32::MAX)) as i32)
}

fn enum_value(names: &[(&str, i32)], name: Option<&str>) -> Option<i32> {
    let name = name?;
    names
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

fn enum_name(names: &[(&str, i32)], value: Option<i32>) -> Option<String> {
    let value = value?;
    names
        .iter()
        .find(|(_, v)| *v == value)
        .map(|(n, _)| n.to_string())
}

// ---- databases ----

/// `location` stands in when the record has none (Spark cannot use a database without one).
pub fn database_out(db: &glue::Database, location: impl FnOnce() -> String) -> hms::Database {
    hms::Database {
        name: Some(db.name.clone()),
        description: Some(db.description.clone().unwrap_or_default()),
        location_uri: Some(
            db.location_uri
                .clone()
                .filter(|l| !l.is_empty())
                .unwrap_or_else(location),
        ),
        parameters: Some(db.parameters.clone().unwrap_or_default()),
        ..Default::default()
    }
}

pub fn database_in(db: hms::Database) -> glue::DatabaseInput {
    glue::DatabaseInput {
        name: db.name.unwrap_or_default(),
        description: db.description.filter(|d| !d.is_empty()),
        location_uri: db.location_uri.filter(|l| !l.is_empty()),
        parameters: db.parameters,
        ..Default::default()
    }
}

// ---- columns and storage ----

fn columns_out(cols: Option<&Vec<glue::Column>>) -> Vec<hms::FieldSchema> {
    cols.into_iter()
        .flatten()
        .map(|c| hms::FieldSchema {
            name: Some(c.name.clone()),
            // Spark parses every column type; a Glue column may have none.
            r#type: Some(c.r#type.clone().unwrap_or_else(|| "string".into())),
            comment: c.comment.clone(),
        })
        .collect()
}

fn columns_in(cols: Option<Vec<hms::FieldSchema>>) -> Option<Vec<glue::Column>> {
    cols.map(|cols| {
        cols.into_iter()
            .map(|c| glue::Column {
                name: c.name.unwrap_or_default(),
                r#type: c.r#type,
                comment: c.comment,
                parameters: None,
            })
            .collect()
    })
}

/// Glue flattens each skewed value list into one string of `<length>$<value>` items.
fn skewed_key(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("{}${v}", v.chars().count()))
        .collect()
}

fn skewed_values(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = key;
    while let Some((len, tail)) = rest.split_once('$') {
        let Ok(len) = len.parse::<usize>() else { break };
        let end = tail.char_indices().nth(len).map_or(tail.len(), |(i, _)| i);
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

fn skewed_out(info: Option<&glue::SkewedInfo>) -> hms::SkewedInfo {
    let info = info.cloned().unwrap_or_default();
    hms::SkewedInfo {
        skewed_col_names: Some(info.skewed_column_names.unwrap_or_default()),
        skewed_col_values: Some(
            info.skewed_column_values
                .unwrap_or_default()
                .iter()
                .map(|k| skewed_values(k))
                .collect(),
        ),
        skewed_col_value_location_maps: Some(
            info.skewed_column_value_location_maps
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (skewed_values(&k), v))
                .collect(),
        ),
    }
}

fn skewed_in(info: hms::SkewedInfo) -> glue::SkewedInfo {
    glue::SkewedInfo {
        skewed_column_names: info.skewed_col_names,
        skewed_column_values: info
            .skewed_col_values
            .map(|vs| vs.iter().map(|v| skewed_key(v)).collect()),
        skewed_column_value_location_maps: info.skewed_col_value_location_maps.map(|m| {
            m.into_iter()
                .map(|(k, v)| (skewed_key(&k), v))
                .collect::<BTreeMap<_, _>>()
        }),
    }
}

/// A complete storage descriptor; `location` stands in for a missing one.
fn storage_out(
    sd: Option<&glue::StorageDescriptor>,
    location: Option<String>,
) -> hms::StorageDescriptor {
    let sd = sd.cloned().unwrap_or_default();
    let serde = sd.serde_info.unwrap_or_default();
    hms::StorageDescriptor {
        cols: Some(columns_out(sd.columns.as_ref())),
        location: sd.location.filter(|l| !l.is_empty()).or(location),
        input_format: sd.input_format,
        output_format: sd.output_format,
        compressed: Some(sd.compressed.unwrap_or(false)),
        num_buckets: Some(sd.number_of_buckets.unwrap_or(-1)),
        serde_info: Some(hms::SerDeInfo {
            name: serde.name,
            serialization_lib: serde.serialization_library,
            parameters: Some(serde.parameters.unwrap_or_default()),
        }),
        bucket_cols: Some(sd.bucket_columns.unwrap_or_default()),
        sort_cols: Some(
            sd.sort_columns
                .unwrap_or_default()
                .into_iter()
                .map(|o| hms::Order {
                    col: Some(o.column),
                    order: Some(o.sort_order),
                })
                .collect(),
        ),
        parameters: Some(sd.parameters.unwrap_or_default()),
        skewed_info: Some(skewed_out(sd.skewed_info.as_ref())),
        stored_as_sub_directories: Some(sd.stored_as_sub_directories.unwrap_or(false)),
    }
}

fn storage_in(sd: hms::StorageDescriptor) -> glue::StorageDescriptor {
    let serde = sd.serde_info.map(|s| glue::SerDeInfo {
        name: s.name,
        serialization_library: s.serialization_lib,
        parameters: s.parameters,
    });
    glue::StorageDescriptor {
        columns: columns_in(sd.cols),
        location: sd.location.filter(|l| !l.is_empty()),
        input_format: sd.input_format,
        output_format: sd.output_format,
        compressed: sd.compressed,
        number_of_buckets: sd.num_buckets,
        serde_info: serde,
        bucket_columns: sd.bucket_cols,
        sort_columns: sd.sort_cols.map(|cols| {
            cols.into_iter()
                .map(|o| glue::Order {
                    column: o.col.unwrap_or_default(),
                    sort_order: o.order.unwrap_or(1),
                })
                .collect()
        }),
        parameters: sd.parameters,
        skewed_info: sd.skewed_info.map(skewed_in),
        stored_as_sub_directories: sd.stored_as_sub_directories,
        ..Default::default()
    }
}

// ---- tables ----

/// The type Hive reads: the stored one, else by the `EXTERNAL` parameter (as Hive does).
fn table_type(table: &glue::Table) -> String {
    let stored = table.table_type.as_deref().map(str::to_ascii_uppercase);
    match stored.as_deref() {
        Some(t @ (MANAGED_TABLE | EXTERNAL_TABLE | VIRTUAL_VIEW)) => t.to_string(),
        _ if table
            .parameters
            .as_ref()
            .and_then(|p| p.get("EXTERNAL"))
            .is_some_and(|v| v.eq_ignore_ascii_case("true")) =>
        {
            EXTERNAL_TABLE.into()
        }
        _ => MANAGED_TABLE.into(),
    }
}

pub fn table_out(table: &glue::Table) -> hms::Table {
    let table_type = table_type(table);
    let is_view = table_type == VIRTUAL_VIEW;
    let original = table.view_original_text.clone();
    hms::Table {
        table_name: Some(table.name.clone()),
        db_name: Some(table.database_name.clone().unwrap_or_default()),
        owner: Some(table.owner.clone().unwrap_or_default()),
        create_time: Some(seconds(table.create_time).unwrap_or(0)),
        last_access_time: Some(seconds(table.last_access_time).unwrap_or(0)),
        retention: Some(table.retention.unwrap_or(0)),
        sd: Some(storage_out(table.storage_descriptor.as_ref(), None)),
        partition_keys: Some(columns_out(table.partition_keys.as_ref())),
        parameters: Some(table.parameters.clone().unwrap_or_default()),
        // Spark reads the expanded text; Glue-made views may only have the original.
        view_expanded_text: table
            .view_expanded_text
            .clone()
            .or_else(|| original.clone().filter(|_| is_view)),
        view_original_text: original,
        table_type: Some(table_type),
        temporary: Some(false),
        rewrite_enabled: Some(false),
        privileges: None,
    }
}

/// What a Hive client's table becomes in Glue; `owner` replaces the sender's user name, which
/// is the driver's metastore credential and must not be stored.
pub fn table_in(table: hms::Table, now: i64, credential: Option<&str>) -> glue::TableInput {
    let mut parameters = table.parameters.unwrap_or_default();
    parameters.insert(DDL_TIME.into(), now.to_string());
    glue::TableInput {
        name: table.table_name.unwrap_or_default(),
        owner: table
            .owner
            .filter(|o| !o.is_empty() && Some(o.as_str()) != credential),
        last_access_time: table.last_access_time.filter(|t| *t > 0).map(f64::from),
        retention: table.retention,
        storage_descriptor: table.sd.map(storage_in),
        partition_keys: columns_in(table.partition_keys),
        view_original_text: table.view_original_text,
        view_expanded_text: table.view_expanded_text,
        table_type: table.table_type,
        parameters: Some(parameters),
        ..Default::default()
    }
}

pub fn table_location(table: &glue::Table) -> Option<&str> {
    table
        .storage_descriptor
        .as_ref()?
        .location
        .as_deref()
        .filter(|l| !l.is_empty())
}

pub fn partition_keys(table: &glue::Table) -> Vec<String> {
    table
        .partition_keys
        .iter()
        .flatten()
        .map(|c| c.name.to_lowercase())
        .collect()
}

// ---- partitions ----

/// Hive's partition name, `k1=v1/k2=v2`, escaped as Hive escapes paths.
pub fn partition_name(keys: &[String], values: &[String]) -> String {
    keys.iter()
        .zip(values)
        .map(|(k, v)| format!("{}={}", escape(&k.to_lowercase()), escape(v)))
        .collect::<Vec<_>>()
        .join("/")
}

/// `k1=v1/k2=v2` back to its (unescaped) key-value pairs; None if it is not such a name.
pub fn parse_partition_name(name: &str) -> Option<Vec<(String, String)>> {
    name.split('/')
        .map(|part| {
            let (k, v) = part.split_once('=')?;
            Some((unescape(k), unescape(v)))
        })
        .collect()
}

/// Characters Hive's `FileUtils.escapePathName` writes as `%XX`.
fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\u{1}'
            ..='\u{1f}'
                | '"'
                | '#'
                | '%'
                | '\''
                | '*'
                | '/'
                | ':'
                | '='
                | '?'
                | '\\'
                | '\u{7f}'
                | '{'
                | '['
                | ']'
                | '^'
    )
}

pub fn escape(value: &str) -> String {
    if value.is_empty() {
        return DEFAULT_PARTITION.into();
    }
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if needs_escape(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

pub fn unescape(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| value.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A partition as Hive reads it; without a location it lives at `<table>/<partition name>`.
pub fn partition_out(p: &glue::Partition, table: &glue::Table) -> hms::Partition {
    let values = p.values.clone().unwrap_or_default();
    let location = table_location(table).map(|t| {
        format!(
            "{}/{}",
            t.trim_end_matches('/'),
            partition_name(&partition_keys(table), &values)
        )
    });
    hms::Partition {
        db_name: Some(p.database_name.clone().unwrap_or_default()),
        table_name: Some(p.table_name.clone().unwrap_or_default()),
        create_time: Some(seconds(p.creation_time).unwrap_or(0)),
        last_access_time: Some(seconds(p.last_access_time).unwrap_or(0)),
        sd: Some(storage_out(p.storage_descriptor.as_ref(), location)),
        parameters: Some(p.parameters.clone().unwrap_or_default()),
        values: Some(values),
        privileges: None,
    }
}

pub fn partition_in(p: hms::Partition) -> glue::PartitionInput {
    glue::PartitionInput {
        values: p.values,
        last_access_time: p.last_access_time.filter(|t| *t > 0).map(f64::from),
        storage_descriptor: p.sd.map(storage_in),
        parameters: p.parameters,
        last_analyzed_time: None,
    }
}

// ---- functions ----

pub fn function_out(f: &glue::UserDefinedFunction) -> hms::Function {
    hms::Function {
        function_name: f.function_name.clone(),
        db_name: f.database_name.clone(),
        class_name: f.class_name.clone(),
        owner_name: f.owner_name.clone(),
        owner_type: enum_value(&hms::PRINCIPAL_TYPES, f.owner_type.as_deref()),
        create_time: Some(seconds(f.create_time).unwrap_or(0)),
        function_type: Some(
            enum_value(&hms::FUNCTION_TYPES, f.function_type.as_deref()).unwrap_or(1),
        ),
        resource_uris: Some(
            f.resource_uris
                .iter()
                .flatten()
                .map(|r| hms::ResourceUri {
                    resource_type: enum_value(&hms::RESOURCE_TYPES, r.resource_type.as_deref()),
                    uri: r.uri.clone(),
                })
                .collect(),
        ),
    }
}

pub fn function_in(f: hms::Function, credential: Option<&str>) -> glue::UserDefinedFunctionInput {
    glue::UserDefinedFunctionInput {
        function_name: f.function_name,
        class_name: f.class_name,
        owner_name: f
            .owner_name
            .filter(|o| !o.is_empty() && Some(o.as_str()) != credential),
        owner_type: enum_name(&hms::PRINCIPAL_TYPES, f.owner_type),
        function_type: enum_name(&hms::FUNCTION_TYPES, f.function_type),
        resource_uris: f.resource_uris.map(|uris| {
            uris.into_iter()
                .map(|r| glue::ResourceUri {
                    resource_type: enum_name(&hms::RESOURCE_TYPES, r.resource_type),
                    uri: r.uri,
                    last_modified: None,
                })
                .collect()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_escape_like_hive() {
        let keys = ["Dt".to_string(), "p".to_string()];
        let values = ["2024/01:02".to_string(), String::new()];
        let name = partition_name(&keys, &values);
        assert_eq!(name, "dt=2024%2F01%3A02/p=__HIVE_DEFAULT_PARTITION__");
        assert_eq!(
            parse_partition_name(&name).unwrap(),
            vec![
                ("dt".to_string(), "2024/01:02".to_string()),
                ("p".to_string(), DEFAULT_PARTITION.to_string())
            ]
        );
        assert_eq!(escape("a b=c%"), "a b%3Dc%25");
        assert_eq!(unescape("100%"), "100%");
    }

    #[test]
    fn skewed_values_round_trip_through_glue_strings() {
        let values = vec!["a$b".to_string(), "é".to_string()];
        assert_eq!(skewed_values(&skewed_key(&values)), values);
    }

    #[test]
    fn tables_without_storage_get_everything_spark_dereferences() {
        let table = glue::Table {
            name: "t".into(),
            parameters: Some(BTreeMap::from([("EXTERNAL".into(), "TRUE".into())])),
            ..Default::default()
        };
        let out = table_out(&table);
        assert_eq!(out.table_type.as_deref(), Some(EXTERNAL_TABLE));
        let sd = out.sd.unwrap();
        assert!(sd.serde_info.unwrap().parameters.is_some());
        assert!(sd.parameters.is_some() && sd.cols.is_some());
        assert_eq!(out.partition_keys, Some(Vec::new()));
    }
}
