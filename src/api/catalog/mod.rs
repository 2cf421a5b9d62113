//! The Glue Data Catalog operations: decode the request into its generated type, check the
//! model's constraints, call the catalog service, encode the generated response. One file per
//! operation group; the wire types and checks come from scripts/gen-catalog-api.py.

mod constraints;
mod databases;
mod decode;
mod functions;
mod generated;
mod partitions;
mod tables;

use super::Context;
use super::error::{ApiError, ErrorCode};
use crate::catalog::{CatalogError, CatalogService, PageRequest};
use constraints::Validate;
use serde::Serialize;

pub use generated::OPERATIONS;

/// Runs a Data Catalog operation; `None` if `operation` is not one.
pub async fn dispatch(
    catalog: &CatalogService,
    ctx: &Context,
    operation: &str,
    body: &[u8],
) -> Option<Result<String, ApiError>> {
    macro_rules! route {
        ($($name:literal => $handler:path),* $(,)?) => {
            match operation {
                $($name => Some(crate::metrics::catalog_call("glue", $name, |e: &ApiError| e.code.as_str().to_owned(), async {
                    match decode::request(body) {
                        Ok(request) => $handler(catalog, ctx, request).await.and_then(encode),
                        Err(e) => Err(e),
                    }
                }).await),)*
                _ => None,
            }
        };
    }
    route! {
        "CreateDatabase" => databases::create,
        "GetDatabase" => databases::get,
        "GetDatabases" => databases::list,
        "UpdateDatabase" => databases::update,
        "DeleteDatabase" => databases::delete,
        "CreateTable" => tables::create,
        "GetTable" => tables::get,
        "GetTables" => tables::list,
        "UpdateTable" => tables::update,
        "DeleteTable" => tables::delete,
        "BatchDeleteTable" => tables::batch_delete,
        "GetTableVersions" => tables::versions,
        "CreatePartition" => partitions::create,
        "GetPartition" => partitions::get,
        "GetPartitions" => partitions::list,
        "UpdatePartition" => partitions::update,
        "DeletePartition" => partitions::delete,
        "BatchCreatePartition" => partitions::batch_create,
        "BatchGetPartition" => partitions::batch_get,
        "BatchDeletePartition" => partitions::batch_delete,
        "CreateUserDefinedFunction" => functions::create,
        "GetUserDefinedFunction" => functions::get,
        "GetUserDefinedFunctions" => functions::list,
        "UpdateUserDefinedFunction" => functions::update,
        "DeleteUserDefinedFunction" => functions::delete,
    }
}

fn encode<T: Serialize>(response: T) -> Result<String, ApiError> {
    serde_json::to_string(&response)
        .map_err(|e| ApiError::internal(format!("response encoding failed: {e}")))
}

/// Checks the model's constraints and that `CatalogId`, when given, is the caller's own
/// catalog (epoxy has no cross-account sharing).
fn checked<T: Validate>(
    ctx: &Context,
    request: &T,
    catalog_id: Option<&str>,
) -> Result<(), ApiError> {
    request.validate("")?;
    if let Some(id) = catalog_id
        && id != ctx.tenant.account
    {
        return Err(ApiError::new(
            ErrorCode::AccessDenied,
            format!(
                "Catalog {id} is not the caller's catalog ({}); cross-account catalogs are not shared",
                ctx.tenant.account
            ),
        ));
    }
    Ok(())
}

/// Glue's page sizes: `MaxResults` when given (the model bounds it), else `default`.
fn page(token: Option<String>, max_results: Option<i32>, default: usize) -> PageRequest {
    PageRequest {
        token,
        limit: max_results.map_or(default, |n| usize::try_from(n).unwrap_or(default)),
    }
}

/// The service's errors as Glue's wire errors.
impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        let code = match &e {
            CatalogError::EntityNotFound(_) => ErrorCode::EntityNotFound,
            CatalogError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            CatalogError::InvalidInput(_) | CatalogError::DatabaseNotEmpty(_) => {
                ErrorCode::InvalidInput
            }
            CatalogError::ConcurrentModification(_) => ErrorCode::ConcurrentModification,
            CatalogError::AccessDenied(_) => ErrorCode::AccessDenied,
            CatalogError::Store(_) | CatalogError::Warehouse(_) => {
                tracing::error!(error = %e, "catalog failure");
                ErrorCode::InternalService
            }
        };
        ApiError::new(code, e.to_string())
    }
}
