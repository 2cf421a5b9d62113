//! The console's Data Catalog pages: the viewer's databases, a database's tables, and a table
//! (columns, partition keys, partitions, view text), read through [`CatalogService`] for the
//! viewer's tenancy, paged with the service's own tokens.

use super::{Console, PageViewer, Signed, viewer_context};
use crate::api::error::ApiError;
use crate::catalog::PageRequest;
use crate::catalog::model::{Column, Table};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Databases or tables per page.
const PAGE: usize = 50;
/// Partitions per page of a table.
const PARTITIONS: usize = 50;

#[derive(Deserialize, Default)]
pub(super) struct Paging {
    #[serde(default)]
    next: String,
}

impl Paging {
    fn request(&self, limit: usize) -> PageRequest {
        PageRequest {
            token: Some(self.next.clone()).filter(|t| !t.is_empty()),
            limit,
        }
    }
}

/// The `next=` query of the following page, if there is one.
fn next_query(token: Option<String>) -> Option<String> {
    token.map(|next| serde_urlencoded::to_string([("next", next)]).unwrap_or_default())
}

fn seconds_to_date(seconds: Option<f64>) -> Option<String> {
    seconds.map(|s| super::rfc3339((s * 1000.0) as i64))
}

#[derive(Serialize)]
struct ColumnView {
    name: String,
    r#type: String,
    comment: String,
}

impl ColumnView {
    fn of(column: &Column) -> Self {
        Self {
            name: column.name.clone(),
            r#type: column.r#type.clone().unwrap_or_default(),
            comment: column.comment.clone().unwrap_or_default(),
        }
    }
}

#[derive(Serialize)]
struct TableRow {
    name: String,
    r#type: String,
    location: String,
    created: Option<String>,
}

impl TableRow {
    fn of(table: &Table) -> Self {
        Self {
            name: table.name.clone(),
            r#type: table.table_type.clone().unwrap_or_default(),
            location: table
                .storage_descriptor
                .as_ref()
                .and_then(|sd| sd.location.clone())
                .unwrap_or_default(),
            created: seconds_to_date(table.create_time),
        }
    }
}

pub(super) async fn databases_page(
    State(console): State<Arc<Console>>,
    Signed(viewer): PageViewer,
    Query(paging): Query<Paging>,
) -> Response {
    match console
        .catalog
        .get_databases(&viewer.tenant, paging.request(PAGE))
        .await
    {
        Ok(page) => {
            let databases: Vec<_> = page
                .items
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "name": d.name,
                        "description": d.description,
                        "location": d.location_uri,
                        "created": seconds_to_date(d.create_time),
                    })
                })
                .collect();
            console.render(
                "catalog.html",
                serde_json::json!({
                    "viewer": viewer_context(&viewer),
                    "databases": databases,
                    "next_query": next_query(page.next_token),
                }),
            )
        }
        Err(e) => console.error(ApiError::from(e)),
    }
}

pub(super) async fn database_page(
    State(console): State<Arc<Console>>,
    Signed(viewer): PageViewer,
    Path(database): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    let catalog = &console.catalog;
    let result = async {
        let db = catalog.get_database(&viewer.tenant, &database).await?;
        let tables = catalog
            .get_tables(&viewer.tenant, &database, None, paging.request(PAGE))
            .await?;
        Ok::<_, crate::catalog::CatalogError>((db, tables))
    }
    .await;
    match result {
        Ok((db, tables)) => console.render(
            "database.html",
            serde_json::json!({
                "viewer": viewer_context(&viewer),
                "database": {
                    "name": db.name,
                    "description": db.description,
                    "location": db.location_uri,
                    "parameters": db.parameters.unwrap_or_default(),
                },
                "tables": tables.items.iter().map(TableRow::of).collect::<Vec<_>>(),
                "next_query": next_query(tables.next_token),
            }),
        ),
        Err(e) => console.error(ApiError::from(e)),
    }
}

pub(super) async fn table_page(
    State(console): State<Arc<Console>>,
    Signed(viewer): PageViewer,
    Path((database, name)): Path<(String, String)>,
    Query(paging): Query<Paging>,
) -> Response {
    let catalog = &console.catalog;
    let result = async {
        let table = catalog.get_table(&viewer.tenant, &database, &name).await?;
        let partitions = if table.partition_keys.as_ref().is_some_and(|k| !k.is_empty()) {
            Some(
                catalog
                    .get_partitions(
                        &viewer.tenant,
                        &database,
                        &name,
                        None,
                        None,
                        paging.request(PARTITIONS),
                    )
                    .await?,
            )
        } else {
            None
        };
        Ok::<_, crate::catalog::CatalogError>((table, partitions))
    }
    .await;
    let (table, partitions) = match result {
        Ok(found) => found,
        Err(e) => return console.error(ApiError::from(e)),
    };
    let sd = table.storage_descriptor.clone().unwrap_or_default();
    let columns: Vec<_> = sd.columns.iter().flatten().map(ColumnView::of).collect();
    let keys: Vec<_> = table
        .partition_keys
        .iter()
        .flatten()
        .map(ColumnView::of)
        .collect();
    let (partition_rows, next) = match partitions {
        Some(page) => (
            page.items
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "values": p.values.clone().unwrap_or_default(),
                        "location": p.storage_descriptor.as_ref().and_then(|sd| sd.location.clone()),
                        "created": seconds_to_date(p.creation_time),
                    })
                })
                .collect::<Vec<_>>(),
            next_query(page.next_token),
        ),
        None => (Vec::new(), None),
    };
    console.render(
        "table.html",
        serde_json::json!({
            "viewer": viewer_context(&viewer),
            "database": database,
            "table": TableRow::of(&table),
            "description": table.description,
            "owner": table.owner,
            "input_format": sd.input_format,
            "output_format": sd.output_format,
            "serde": sd.serde_info.as_ref().and_then(|s| s.serialization_library.clone()),
            "parameters": table.parameters.clone().unwrap_or_default(),
            "columns": columns,
            "partition_keys": keys,
            "partitions": partition_rows,
            "next_query": next,
            "view_original_text": table.view_original_text,
            "view_expanded_text": table.view_expanded_text,
        }),
    )
}
