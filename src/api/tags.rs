//! TagResource, UntagResource, GetTags (for session ARNs).

use super::Context;
use super::error::ApiError;
use super::strict;
use super::validate as v;
use crate::sessions::SessionService;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceInput {
    resource_arn: Option<String>,
    #[serde(default, deserialize_with = "strict::unique_map")]
    tags_to_add: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceInput {
    resource_arn: Option<String>,
    tags_to_remove: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetTagsInput {
    resource_arn: Option<String>,
}

fn arn(value: &Option<String>) -> Result<&str, ApiError> {
    let arn = v::required("ResourceArn", value)?;
    v::glue_arn("ResourceArn", arn)?;
    Ok(arn)
}

pub async fn tag(
    service: &SessionService,
    ctx: &Context,
    input: TagResourceInput,
) -> Result<String, ApiError> {
    let arn = arn(&input.resource_arn)?;
    let tags = v::required("TagsToAdd", &input.tags_to_add)?;
    v::tags("TagsToAdd", tags)?;
    service.tag_resource(&ctx.tenant, arn, tags.clone()).await?;
    Ok(json!({}).to_string())
}

pub async fn untag(
    service: &SessionService,
    ctx: &Context,
    input: UntagResourceInput,
) -> Result<String, ApiError> {
    let arn = arn(&input.resource_arn)?;
    let keys = v::required("TagsToRemove", &input.tags_to_remove)?;
    v::count("TagsToRemove", keys.len(), 50)?;
    for k in keys {
        v::tag_key("TagsToRemove.member", k)?;
    }
    service
        .untag_resource(&ctx.tenant, arn, keys.clone())
        .await?;
    Ok(json!({}).to_string())
}

pub async fn get(
    service: &SessionService,
    ctx: &Context,
    input: GetTagsInput,
) -> Result<String, ApiError> {
    let arn = arn(&input.resource_arn)?;
    let tags = service.get_tags(&ctx.tenant, arn).await?;
    Ok(json!({ "Tags": tags }).to_string())
}
