use serde_json::json;

use super::{Listing, Output};

fn sample() -> Listing {
    let mut listing = Listing::new(&["id", "cluster_name", "reusable", "tags", "revoked_at"]);
    listing.row(vec![
        json!("t-1"),
        json!("payments-prod"),
        json!(true),
        json!(["eu", "pci"]),
        json!(null),
    ]);
    listing.row(vec![
        json!("t-22"),
        json!("dev"),
        json!(false),
        json!([]),
        json!("2026-12-07"),
    ]);
    listing
}

#[test]
fn text_aligns_columns_under_an_upper_case_header() {
    assert_eq!(
        sample().render(Output::Text),
        "ID    CLUSTER NAME   REUSABLE  TAGS    REVOKED AT\n\
         t-1   payments-prod  yes       eu,pci  -\n\
         t-22  dev            no        -       2026-12-07\n"
    );
}

#[test]
fn json_is_an_array_of_objects_keyed_by_column() {
    let rendered: serde_json::Value = serde_json::from_str(&sample().render(Output::Json)).unwrap();
    assert_eq!(
        rendered,
        json!([
            {"id": "t-1", "cluster_name": "payments-prod", "reusable": true,
             "tags": ["eu", "pci"], "revoked_at": null},
            {"id": "t-22", "cluster_name": "dev", "reusable": false,
             "tags": [], "revoked_at": "2026-12-07"},
        ])
    );
}

#[test]
fn an_empty_listing_is_a_header_or_an_empty_array() {
    let listing = Listing::new(&["id", "email"]);
    assert_eq!(listing.render(Output::Text), "ID  EMAIL\n");
    assert_eq!(listing.render(Output::Json), "[]");
}
