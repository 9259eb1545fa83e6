//! The REST API over real HTTP: the hub's router on a loopback port over a real store, every
//! case on SQLite and PostgreSQL. `register.rs` registers a real test cluster by kubeconfig
//! (its test is in nextest's `kube` group).

#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../store/fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "../store/harness.rs"]
mod harness;

mod admin;
mod auth_flow;
mod cli;
mod client;
mod clusters;
mod cost_json;
mod costs;
mod inventory;
mod isolation;
mod limits;
mod openapi;
mod register;
mod ui;

/// Generates `sqlite::<case>` and `postgres::<case>` tests, each on a fresh hub.
macro_rules! both_backends {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let hub = super::client::TestHub::start(super::harness::Backend::Sqlite).await;
                    super::$module::$case(hub).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let hub = super::client::TestHub::start(super::harness::Backend::Postgres).await;
                    super::$module::$case(hub).await;
                }
            )*
        }
    };
}

both_backends! {
    auth_flow::login_sets_cookies_and_logout_ends_the_session,
    auth_flow::wrong_passwords_are_401_then_429,
    auth_flow::cookie_mutations_need_the_csrf_header,
    auth_flow::api_tokens_authenticate_until_revoked_or_expired,
    auth_flow::errors_have_one_shape_and_a_request_id,
    auth_flow::a_demoted_admins_token_is_downgraded_and_a_reset_revokes_it,
    auth_flow::tokens_and_sessions_of_disabled_or_deleted_users_are_refused,
    auth_flow::emails_are_unique_per_organization_and_login_asks_which,
    clusters::the_cluster_list_filters_sorts_and_pages,
    clusters::a_cluster_is_read_edited_synced_and_deleted,
    clusters::bad_registrations_are_refused_clearly,
    inventory::every_inventory_endpoint_answers,
    costs::costs_are_reported_grouped_per_namespace_and_as_csv,
    cost_json::cost_answers_keep_their_bytes,
    isolation::another_organization_sees_nothing,
    isolation::another_organizations_user_writes_change_nothing,
    admin::viewers_are_refused_every_mutation,
    admin::enrollment_tokens_are_issued_listed_and_revoked,
    admin::users_are_managed_by_admins,
    admin::the_audit_log_records_mutations_with_filters,
    admin::docs_metrics_and_probes_answer,
    admin::the_last_admin_cannot_be_demoted_disabled_or_deleted,
    admin::concurrent_mutual_demotions_keep_an_admin,
    cli::user_commands_keep_an_admin_and_resolve_emails,
    limits::logins_per_ip_and_requests_per_token_are_limited,
    ui::the_ui_is_served_with_spa_fallback_and_cache_headers,
    ui::cluster_events_are_streamed_per_organization,
    openapi::operation_ids_are_unique,
    openapi::every_reference_resolves,
    openapi::multi_byte_windows_and_steps_are_bad_requests,
    openapi::page_limits_are_documented_and_enforced,
}
