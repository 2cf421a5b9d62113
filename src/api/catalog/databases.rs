//! CreateDatabase, GetDatabase, GetDatabases, UpdateDatabase, DeleteDatabase.

use super::generated::*;
use super::{checked, page};
use crate::api::Context;
use crate::api::error::ApiError;
use crate::catalog::{CatalogService, DropDatabase};

/// GetDatabases' page size when `MaxResults` is absent.
const DEFAULT_PAGE: usize = 100;

pub async fn create(
    catalog: &CatalogService,
    ctx: &Context,
    req: CreateDatabaseRequest,
) -> Result<CreateDatabaseResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    catalog
        .create_database(&ctx.tenant, req.database_input)
        .await?;
    Ok(CreateDatabaseResponse {})
}

pub async fn get(
    catalog: &CatalogService,
    ctx: &Context,
    req: GetDatabaseRequest,
) -> Result<GetDatabaseResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let database = catalog.get_database(&ctx.tenant, &req.name).await?;
    Ok(GetDatabaseResponse {
        database: Some(database),
    })
}

pub async fn list(
    catalog: &CatalogService,
    ctx: &Context,
    req: GetDatabasesRequest,
) -> Result<GetDatabasesResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let found = catalog
        .get_databases(
            &ctx.tenant,
            page(req.next_token, req.max_results, DEFAULT_PAGE),
        )
        .await?;
    Ok(GetDatabasesResponse {
        database_list: found.items,
        next_token: found.next_token,
    })
}

pub async fn update(
    catalog: &CatalogService,
    ctx: &Context,
    req: UpdateDatabaseRequest,
) -> Result<UpdateDatabaseResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    catalog
        .update_database(&ctx.tenant, &req.name, req.database_input)
        .await?;
    Ok(UpdateDatabaseResponse {})
}

/// Glue drops what the database holds along with it; epoxy also removes managed directories.
pub async fn delete(
    catalog: &CatalogService,
    ctx: &Context,
    req: DeleteDatabaseRequest,
) -> Result<DeleteDatabaseResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let mode = DropDatabase {
        cascade: true,
        delete_data: true,
    };
    catalog
        .delete_database(&ctx.tenant, &req.name, mode)
        .await?;
    Ok(DeleteDatabaseResponse {})
}
