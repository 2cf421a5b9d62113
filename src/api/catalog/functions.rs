//! CreateUserDefinedFunction, GetUserDefinedFunction, GetUserDefinedFunctions,
//! UpdateUserDefinedFunction, DeleteUserDefinedFunction.

use super::generated::*;
use super::{checked, page};
use crate::api::Context;
use crate::api::error::ApiError;
use crate::catalog::CatalogService;

/// GetUserDefinedFunctions' page size when `MaxResults` is absent.
const DEFAULT_PAGE: usize = 100;

pub async fn create(
    catalog: &CatalogService,
    ctx: &Context,
    req: CreateUserDefinedFunctionRequest,
) -> Result<CreateUserDefinedFunctionResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    if req.function_input.function_name.is_none() {
        return Err(ApiError::invalid_input(
            "FunctionInput.FunctionName is required",
        ));
    }
    catalog
        .create_function(&ctx.tenant, &req.database_name, req.function_input)
        .await?;
    Ok(CreateUserDefinedFunctionResponse {})
}

pub async fn get(
    catalog: &CatalogService,
    ctx: &Context,
    req: GetUserDefinedFunctionRequest,
) -> Result<GetUserDefinedFunctionResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let function = catalog
        .get_function(&ctx.tenant, &req.database_name, &req.function_name)
        .await?;
    Ok(GetUserDefinedFunctionResponse {
        user_defined_function: Some(function),
    })
}

/// Functions whose names match `Pattern`, in one database or across all of them.
pub async fn list(
    catalog: &CatalogService,
    ctx: &Context,
    req: GetUserDefinedFunctionsRequest,
) -> Result<GetUserDefinedFunctionsResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let found = catalog
        .get_functions(
            &ctx.tenant,
            req.database_name.as_deref(),
            Some(&req.pattern),
            page(req.next_token, req.max_results, DEFAULT_PAGE),
        )
        .await?;
    let mut functions = found.items;
    if let Some(kind) = &req.function_type {
        functions.retain(|f| f.function_type.as_deref() == Some(kind.as_str()));
    }
    Ok(GetUserDefinedFunctionsResponse {
        user_defined_functions: Some(functions),
        next_token: found.next_token,
    })
}

pub async fn update(
    catalog: &CatalogService,
    ctx: &Context,
    req: UpdateUserDefinedFunctionRequest,
) -> Result<UpdateUserDefinedFunctionResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let mut input = req.function_input;
    input
        .function_name
        .get_or_insert_with(|| req.function_name.clone());
    catalog
        .update_function(&ctx.tenant, &req.database_name, &req.function_name, input)
        .await?;
    Ok(UpdateUserDefinedFunctionResponse {})
}

pub async fn delete(
    catalog: &CatalogService,
    ctx: &Context,
    req: DeleteUserDefinedFunctionRequest,
) -> Result<DeleteUserDefinedFunctionResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    catalog
        .delete_function(&ctx.tenant, &req.database_name, &req.function_name)
        .await?;
    Ok(DeleteUserDefinedFunctionResponse {})
}
