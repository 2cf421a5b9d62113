//! CreatePartition, GetPartition, GetPartitions, UpdatePartition, DeletePartition,
//! BatchCreatePartition, BatchGetPartition, BatchDeletePartition.

use super::generated::*;
use super::{checked, page};
use crate::api::Context;
use crate::api::error::ApiError;
use crate::catalog::CatalogService;
use crate::catalog::model::PartitionValueList;

/// GetPartitions' page size when `MaxResults` is absent.
const DEFAULT_PAGE: usize = 1000;

fn value_lists(lists: Vec<PartitionValueList>) -> Vec<Vec<String>> {
    lists.into_iter().map(|l| l.values).collect()
}

pub async fn create(
    catalog: &CatalogService,
    ctx: &Context,
    req: CreatePartitionRequest,
) -> Result<CreatePartitionResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    catalog
        .create_partition(
            &ctx.tenant,
            &req.database_name,
            &req.table_name,
            req.partition_input,
        )
        .await?;
    Ok(CreatePartitionResponse {})
}

pub async fn get(
    catalog: &CatalogService,
    ctx: &Context,
    req: GetPartitionRequest,
) -> Result<GetPartitionResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let partition = catalog
        .get_partition(
            &ctx.tenant,
            &req.database_name,
            &req.table_name,
            &req.partition_values,
        )
        .await?;
    Ok(GetPartitionResponse {
        partition: Some(partition),
    })
}

/// Partitions matching `Expression` (Glue's predicate dialect), optionally one `Segment`.
pub async fn list(
    catalog: &CatalogService,
    ctx: &Context,
    req: GetPartitionsRequest,
) -> Result<GetPartitionsResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let segment = match &req.segment {
        Some(s) if s.segment_number >= s.total_segments => {
            return Err(ApiError::invalid_input(
                "Segment.SegmentNumber must be less than Segment.TotalSegments",
            ));
        }
        Some(s) => Some((s.segment_number as u32, s.total_segments as u32)),
        None => None,
    };
    let found = catalog
        .get_partitions(
            &ctx.tenant,
            &req.database_name,
            &req.table_name,
            req.expression.as_deref(),
            segment,
            page(req.next_token, req.max_results, DEFAULT_PAGE),
        )
        .await?;
    let mut partitions = found.items;
    if req.exclude_column_schema == Some(true) {
        for sd in partitions
            .iter_mut()
            .filter_map(|p| p.storage_descriptor.as_mut())
        {
            sd.columns = None;
        }
    }
    Ok(GetPartitionsResponse {
        partitions: Some(partitions),
        next_token: found.next_token,
    })
}

pub async fn update(
    catalog: &CatalogService,
    ctx: &Context,
    req: UpdatePartitionRequest,
) -> Result<UpdatePartitionResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    catalog
        .update_partition(
            &ctx.tenant,
            &req.database_name,
            &req.table_name,
            &req.partition_value_list,
            req.partition_input,
        )
        .await?;
    Ok(UpdatePartitionResponse {})
}

pub async fn delete(
    catalog: &CatalogService,
    ctx: &Context,
    req: DeletePartitionRequest,
) -> Result<DeletePartitionResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    catalog
        .delete_partition(
            &ctx.tenant,
            &req.database_name,
            &req.table_name,
            &req.partition_values,
            true,
        )
        .await?;
    Ok(DeletePartitionResponse {})
}

pub async fn batch_create(
    catalog: &CatalogService,
    ctx: &Context,
    req: BatchCreatePartitionRequest,
) -> Result<BatchCreatePartitionResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let (_, errors) = catalog
        .batch_create_partition(
            &ctx.tenant,
            &req.database_name,
            &req.table_name,
            req.partition_input_list,
        )
        .await?;
    Ok(BatchCreatePartitionResponse {
        errors: Some(errors),
    })
}

pub async fn batch_get(
    catalog: &CatalogService,
    ctx: &Context,
    req: BatchGetPartitionRequest,
) -> Result<BatchGetPartitionResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let partitions = catalog
        .batch_get_partition(
            &ctx.tenant,
            &req.database_name,
            &req.table_name,
            value_lists(req.partitions_to_get),
        )
        .await?;
    Ok(BatchGetPartitionResponse {
        partitions: Some(partitions),
        unprocessed_keys: Some(Vec::new()),
    })
}

pub async fn batch_delete(
    catalog: &CatalogService,
    ctx: &Context,
    req: BatchDeletePartitionRequest,
) -> Result<BatchDeletePartitionResponse, ApiError> {
    checked(ctx, &req, req.catalog_id.as_deref())?;
    let errors = catalog
        .batch_delete_partition(
            &ctx.tenant,
            &req.database_name,
            &req.table_name,
            value_lists(req.partitions_to_delete),
        )
        .await?;
    Ok(BatchDeletePartitionResponse {
        errors: Some(errors),
    })
}
