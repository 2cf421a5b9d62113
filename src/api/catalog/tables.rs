//! CreateTable, GetTable, GetTables, UpdateTable, DeleteTable, BatchDeleteTable,
//! GetTableVersions.

use super::generated::*;
use super::{checked, page};
use crate::api::Context;
use crate::api::error::ApiError;
use crate::catalog::model::TableInput;
use crate::catalog::{CatalogService, TableUpdate};

/// GetTables' and GetTableVersions' page size when `MaxResults` is absent.
const DEFAULT_PAGE: usize = 100;

/// epoxy keeps Hive-style tables; Glue's Iceberg-creating variant is not served.
fn table_input(input: Option<TableInput>) -> Result<TableInput, ApiError> {
    input.ok_or_else(|| {
        ApiError::invalid_input(
            "TableInput is required: epoxy does not create tables from OpenTableFormatInput",
        )
    })
}

pub async fn create(
    catalog: &CatalogService,
    ctx: &Context,
    req: CreateTableRequest,
) -> Result<CreateTableResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let input = table_input(req.table_input)?;
    catalog
        .create_table(&ctx.tenant, &req.database_name, input)
        .await?;
    Ok(CreateTableResponse {})
}

pub async fn get(
    catalog: &CatalogService,
    ctx: &Context,
    req: GetTableRequest,
) -> Result<GetTableResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let table = catalog
        .get_table(&ctx.tenant, &req.database_name, &req.name)
        .await?;
    Ok(GetTableResponse { table: Some(table) })
}

pub async fn list(
    catalog: &CatalogService,
    ctx: &Context,
    req: GetTablesRequest,
) -> Result<GetTablesResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let found = catalog
        .get_tables(
            &ctx.tenant,
            &req.database_name,
            req.expression.as_deref(),
            page(req.next_token, req.max_results, DEFAULT_PAGE),
        )
        .await?;
    Ok(GetTablesResponse {
        table_list: Some(found.items),
        next_token: found.next_token,
    })
}

/// A new version of the table; `VersionId` makes it conditional (Iceberg's commit).
pub async fn update(
    catalog: &CatalogService,
    ctx: &Context,
    req: UpdateTableRequest,
) -> Result<UpdateTableResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let input = table_input(req.table_input)?;
    if let Some(name) = &req.name
        && !name.eq_ignore_ascii_case(&input.name)
    {
        return Err(ApiError::invalid_input(
            "Table rename is not supported: Name and TableInput.Name differ",
        ));
    }
    let update = TableUpdate {
        version_id: req.version_id,
        skip_archive: req.skip_archive.unwrap_or(false),
    };
    catalog
        .update_table(&ctx.tenant, &req.database_name, input, update)
        .await?;
    Ok(UpdateTableResponse {})
}

/// Drops the table, its versions and partitions; a managed table's directory goes too.
pub async fn delete(
    catalog: &CatalogService,
    ctx: &Context,
    req: DeleteTableRequest,
) -> Result<DeleteTableResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    catalog
        .delete_table(&ctx.tenant, &req.database_name, &req.name, true)
        .await?;
    Ok(DeleteTableResponse {})
}

pub async fn batch_delete(
    catalog: &CatalogService,
    ctx: &Context,
    req: BatchDeleteTableRequest,
) -> Result<BatchDeleteTableResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let errors = catalog
        .batch_delete_table(&ctx.tenant, &req.database_name, &req.tables_to_delete)
        .await?;
    Ok(BatchDeleteTableResponse {
        errors: Some(errors),
    })
}

pub async fn versions(
    catalog: &CatalogService,
    ctx: &Context,
    req: GetTableVersionsRequest,
) -> Result<GetTableVersionsResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let found = catalog
        .get_table_versions(
            &ctx.tenant,
            &req.database_name,
            &req.table_name,
            page(req.next_token, req.max_results, DEFAULT_PAGE),
        )
        .await?;
    Ok(GetTableVersionsResponse {
        table_versions: Some(found.items),
        next_token: found.next_token,
    })
}
