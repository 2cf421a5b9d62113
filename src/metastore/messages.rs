//! The Hive Metastore 2.3 structs epoxy speaks, with the field ids and types the Hive 2.3.9
//! client (the one pyspark ships) uses on the wire; enums travel as i32. Only the structs the
//! served RPCs reach are here; privileges are always sent empty.

use super::codec::thrift_struct;
use std::collections::BTreeMap;

pub type Params = BTreeMap<String, String>;

/// `PrincipalType`: USER, ROLE, GROUP.
pub const PRINCIPAL_TYPES: [(&str, i32); 3] = [("USER", 1), ("ROLE", 2), ("GROUP", 3)];
/// `ResourceType`: JAR, FILE, ARCHIVE.
pub const RESOURCE_TYPES: [(&str, i32); 3] = [("JAR", 1), ("FILE", 2), ("ARCHIVE", 3)];
/// `FunctionType`: only JAVA exists.
pub const FUNCTION_TYPES: [(&str, i32); 1] = [("JAVA", 1)];

thrift_struct! {
    pub struct FieldSchema {
        1: name: String,
        2: r#type: String,
        3: comment: String,
    }
}

thrift_struct! {
    pub struct SerDeInfo {
        1: name: String,
        2: serialization_lib: String,
        3: parameters: Params,
    }
}

thrift_struct! {
    pub struct Order {
        1: col: String,
        /// 1 ascending, 0 descending.
        2: order: i32,
    }
}

thrift_struct! {
    pub struct SkewedInfo {
        1: skewed_col_names: Vec<String>,
        2: skewed_col_values: Vec<Vec<String>>,
        3: skewed_col_value_location_maps: BTreeMap<Vec<String>, String>,
    }
}

thrift_struct! {
    pub struct StorageDescriptor {
        1: cols: Vec<FieldSchema>,
        2: location: String,
        3: input_format: String,
        4: output_format: String,
        5: compressed: bool,
        6: num_buckets: i32,
        7: serde_info: SerDeInfo,
        8: bucket_cols: Vec<String>,
        9: sort_cols: Vec<Order>,
        10: parameters: Params,
        11: skewed_info: SkewedInfo,
        12: stored_as_sub_directories: bool,
    }
}

thrift_struct! {
    /// Never filled: epoxy has no Hive privileges (Lake Formation grants are answered elsewhere).
    pub struct PrincipalPrivilegeSet {}
}

thrift_struct! {
    pub struct Database {
        1: name: String,
        2: description: String,
        3: location_uri: String,
        4: parameters: Params,
        5: privileges: PrincipalPrivilegeSet,
        6: owner_name: String,
        7: owner_type: i32,
    }
}

thrift_struct! {
    pub struct Table {
        1: table_name: String,
        2: db_name: String,
        3: owner: String,
        4: create_time: i32,
        5: last_access_time: i32,
        6: retention: i32,
        7: sd: StorageDescriptor,
        8: partition_keys: Vec<FieldSchema>,
        9: parameters: Params,
        10: view_original_text: String,
        11: view_expanded_text: String,
        12: table_type: String,
        13: privileges: PrincipalPrivilegeSet,
        14: temporary: bool,
        15: rewrite_enabled: bool,
    }
}

thrift_struct! {
    pub struct Partition {
        1: values: Vec<String>,
        2: db_name: String,
        3: table_name: String,
        4: create_time: i32,
        5: last_access_time: i32,
        6: sd: StorageDescriptor,
        7: parameters: Params,
        8: privileges: PrincipalPrivilegeSet,
    }
}

thrift_struct! {
    pub struct ResourceUri {
        1: resource_type: i32,
        2: uri: String,
    }
}

thrift_struct! {
    pub struct Function {
        1: function_name: String,
        2: db_name: String,
        3: class_name: String,
        4: owner_name: String,
        5: owner_type: i32,
        6: create_time: i32,
        7: function_type: i32,
        8: resource_uris: Vec<ResourceUri>,
    }
}

thrift_struct! {
    pub struct EnvironmentContext {
        1: properties: Params,
    }
}

thrift_struct! {
    pub struct AddPartitionsRequest {
        1: db_name: String,
        2: tbl_name: String,
        3: parts: Vec<Partition>,
        4: if_not_exists: bool,
        5: need_result: bool,
    }
}

thrift_struct! {
    pub struct AddPartitionsResult {
        1: partitions: Vec<Partition>,
    }
}

thrift_struct! {
    pub struct GetTableRequest {
        1: db_name: String,
        2: tbl_name: String,
    }
}

thrift_struct! {
    pub struct GetTableResult {
        1: table: Table,
    }
}

thrift_struct! {
    pub struct GetTablesRequest {
        1: db_name: String,
        2: tbl_names: Vec<String>,
    }
}

thrift_struct! {
    pub struct GetTablesResult {
        1: tables: Vec<Table>,
    }
}

thrift_struct! {
    pub struct GetAllFunctionsResponse {
        1: functions: Vec<Function>,
    }
}

thrift_struct! {
    /// Every Hive exception (MetaException, NoSuchObjectException, …) is this on the wire; the
    /// result slot it is sent in says which one it is.
    pub struct HiveException {
        1: message: String,
    }
}

thrift_struct! {
    /// Thrift's own error reply (message type EXCEPTION).
    pub struct ApplicationException {
        1: message: String,
        2: kind: i32,
    }
}

/// `TApplicationException` kinds the server sends.
pub const UNKNOWN_METHOD: i32 = 1;
pub const INVALID_MESSAGE_TYPE: i32 = 2;
pub const PROTOCOL_ERROR: i32 = 7;

// ---- RPC arguments (`<method>_args`), field ids as in the Hive 2.3 service definition ----

thrift_struct! {
    pub struct SetUgiArgs {
        1: user_name: String,
        2: group_names: Vec<String>,
    }
}

thrift_struct! {
    pub struct NameArgs {
        1: name: String,
    }
}

thrift_struct! {
    pub struct NoArgs {}
}

thrift_struct! {
    pub struct PatternArgs {
        1: pattern: String,
    }
}

thrift_struct! {
    pub struct CreateDatabaseArgs {
        1: database: Database,
    }
}

thrift_struct! {
    pub struct DropDatabaseArgs {
        1: name: String,
        2: delete_data: bool,
        3: cascade: bool,
    }
}

thrift_struct! {
    pub struct AlterDatabaseArgs {
        1: dbname: String,
        2: db: Database,
    }
}

thrift_struct! {
    /// get_table, get_function and drop_function: (database, name).
    pub struct ObjectArgs {
        1: db: String,
        2: name: String,
    }
}

thrift_struct! {
    /// get_tables, get_functions: (database, pattern).
    pub struct DbPatternArgs {
        1: db: String,
        2: pattern: String,
    }
}

thrift_struct! {
    pub struct TablesByTypeArgs {
        1: db: String,
        2: pattern: String,
        3: table_type: String,
    }
}

thrift_struct! {
    pub struct TableObjectsArgs {
        1: db: String,
        2: names: Vec<String>,
    }
}

thrift_struct! {
    pub struct TableRequestArgs {
        1: req: GetTableRequest,
    }
}

thrift_struct! {
    pub struct TablesRequestArgs {
        1: req: GetTablesRequest,
    }
}

thrift_struct! {
    pub struct CreateTableArgs {
        1: tbl: Table,
        2: environment_context: EnvironmentContext,
    }
}

thrift_struct! {
    pub struct DropTableArgs {
        1: db: String,
        2: name: String,
        3: delete_data: bool,
        4: environment_context: EnvironmentContext,
    }
}

thrift_struct! {
    pub struct AlterTableArgs {
        1: db: String,
        2: name: String,
        3: new_tbl: Table,
        4: environment_context: EnvironmentContext,
    }
}

thrift_struct! {
    pub struct CreateFunctionArgs {
        1: func: Function,
    }
}

thrift_struct! {
    pub struct AlterFunctionArgs {
        1: db: String,
        2: name: String,
        3: new_func: Function,
    }
}

thrift_struct! {
    pub struct AddPartitionsReqArgs {
        1: request: AddPartitionsRequest,
    }
}

thrift_struct! {
    pub struct AddPartitionArgs {
        1: new_part: Partition,
        2: environment_context: EnvironmentContext,
    }
}

thrift_struct! {
    pub struct AddPartitionListArgs {
        1: new_parts: Vec<Partition>,
    }
}

thrift_struct! {
    /// get_partitions, get_partition_names: (database, table, max_parts).
    pub struct TablePartsArgs {
        1: db: String,
        2: table: String,
        3: max_parts: i16,
    }
}

thrift_struct! {
    /// get_partitions_ps(_with_auth), get_partition_names_ps.
    pub struct PartialSpecArgs {
        1: db: String,
        2: table: String,
        3: part_vals: Vec<String>,
        4: max_parts: i16,
    }
}

thrift_struct! {
    pub struct FilterArgs {
        1: db: String,
        2: table: String,
        3: filter: String,
        4: max_parts: i16,
    }
}

thrift_struct! {
    pub struct NamesArgs {
        1: db: String,
        2: table: String,
        3: names: Vec<String>,
    }
}

thrift_struct! {
    /// get_partition, get_partition_with_auth: (database, table, values).
    pub struct PartitionValuesArgs {
        1: db: String,
        2: table: String,
        3: part_vals: Vec<String>,
    }
}

thrift_struct! {
    pub struct PartitionByNameArgs {
        1: db: String,
        2: table: String,
        3: part_name: String,
        4: delete_data: bool,
    }
}

thrift_struct! {
    pub struct DropPartitionArgs {
        1: db: String,
        2: table: String,
        3: part_vals: Vec<String>,
        4: delete_data: bool,
    }
}

thrift_struct! {
    pub struct AlterPartitionArgs {
        1: db: String,
        2: table: String,
        3: new_part: Partition,
    }
}

thrift_struct! {
    pub struct AlterPartitionsArgs {
        1: db: String,
        2: table: String,
        3: new_parts: Vec<Partition>,
    }
}

thrift_struct! {
    pub struct RenamePartitionArgs {
        1: db: String,
        2: table: String,
        3: part_vals: Vec<String>,
        4: new_part: Partition,
    }
}

thrift_struct! {
    pub struct ConfigValueArgs {
        1: name: String,
        2: default_value: String,
    }
}
