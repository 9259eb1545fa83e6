//! The REST API over real HTTP: the hub's router on a loopback port over a real store, every
//! case on SQLite and PostgreSQL. `register.rs` registers a real test cluster by kubeconfig
//! (its test is in nextest's `kube` group); `egress.rs` drives registration's connection test
//! against a real HTTPS server on loopback.

#[path = "../support/mod.rs"]
mod support;

mod actions;
mod admin;
mod auth_flow;
mod budgets;
mod charts;
mod cli;
mod client;
mod clusters;
mod cost_json;
mod costs;
mod efficiency;
mod egress;
mod events;
mod focus;
mod hardening;
mod http_server;
mod inventory;
mod isolation;
mod limits;
mod lists;
mod openapi;
mod prices_cli;
mod pvcs;
mod quotas;
mod recommendations;
mod register;
mod roles;
mod search;
mod sso;
mod ui;
mod workload_costs;
mod workloads;

use support::{fake_apiserver, fixtures, harness};

// Each case on a fresh hub of either backend.
support::backend_cases! {
    crate::client::TestHub::start =>
    auth_flow::login_sets_cookies_and_logout_ends_the_session,
    budgets::admins_manage_budgets_viewers_read_them_and_other_orgs_see_nothing,
    budgets::a_webhooks_secret_is_shown_once_and_signs_its_test_event,
    budgets::a_webhook_on_an_address_the_egress_policy_refuses_is_not_reached,
    auth_flow::cookie_mutations_need_the_csrf_header,
    auth_flow::api_tokens_authenticate_until_revoked_or_expired,
    auth_flow::errors_have_one_shape_and_a_request_id,
    auth_flow::a_demoted_admins_token_is_downgraded_and_a_reset_revokes_it,
    auth_flow::tokens_and_sessions_of_disabled_or_deleted_users_are_refused,
    auth_flow::emails_are_unique_per_organization_and_login_asks_which,
    clusters::the_cluster_list_filters_sorts_and_pages,
    clusters::a_cluster_is_read_edited_synced_and_deleted,
    clusters::bad_registrations_are_refused_clearly,
    clusters::a_pull_clusters_detail_names_the_replica_collecting_it,
    egress::refused_addresses_are_never_contacted,
    egress::connection_errors_name_the_address_and_never_a_body,
    egress::allowed_networks_narrow_what_loopback_allows,
    inventory::every_inventory_endpoint_answers,
    search::search_finds_pages_and_reports_bad_queries_by_position,
    search::search_exports_stream_every_match_as_csv_or_json,
    focus::a_days_focus_export_follows_the_spec_column_by_column,
    focus::metrics_show_the_last_complete_hours_cost_per_cluster_and_namespace,
    search::pods_are_searched_and_shown_by_their_kubectl_status,
    lists::every_list_pages_by_cursor_and_inventory_lists_sort_and_filter,
    lists::the_fleet_is_grouped_in_one_call,
    lists::lists_download_every_row_with_their_filters,
    lists::inventory_lists_sort_by_their_columns_page_by_cursor_and_refuse_others,
    lists::the_cluster_list_and_the_audit_log_download_every_row,
    pvcs::pvcs_are_listed_filtered_sorted_and_downloaded,
    workloads::workloads_are_listed_shown_and_linked_to_their_pods,
    quotas::a_namespaces_quotas_limits_and_health_are_shown,
    costs::costs_are_reported_grouped_per_namespace_and_as_csv,
    efficiency::efficiency_is_reported_per_group_and_sorted_by_waste,
    workload_costs::costs_are_reported_per_workload_with_storage_and_idle_apart,
    recommendations::recommendations_are_per_workload_container_sorted_and_paged,
    recommendations::efficiency_by_workload_is_priced_and_sorted_by_waste,
    cost_json::cost_answers_keep_their_bytes,
    isolation::another_organization_sees_nothing,
    isolation::another_organizations_user_writes_change_nothing,
    admin::viewers_are_refused_every_mutation,
    roles::viewers_read_logs_and_events_unless_the_organization_turns_it_off,
    roles::operators_cannot_manage_clusters_tokens_or_users,
    roles::the_cli_sets_operation_switches_and_creates_operators,
    actions::viewers_are_refused_every_action_and_operators_reach_the_cluster,
    actions::bad_action_requests_are_refused_in_words,
    admin::enrollment_tokens_are_issued_listed_and_revoked,
    charts::the_chart_repository_is_served_without_login,
    charts::the_install_line_names_the_hubs_chart_repository,
    admin::users_are_managed_by_admins,
    admin::the_audit_log_records_mutations_with_filters,
    admin::docs_metrics_and_probes_answer,
    admin::the_last_admin_cannot_be_demoted_disabled_or_deleted,
    admin::concurrent_mutual_demotions_keep_an_admin,
    cli::user_commands_keep_an_admin_and_resolve_emails,
    limits::requests_per_token_are_limited,
    limits::five_wrong_passwords_do_not_lock_out_another_address,
    limits::made_up_emails_do_not_block_a_real_user_behind_the_same_address,
    limits::repeated_failures_of_one_pair_wait_longer_each_time,
    limits::forwarded_for_separates_clients_only_behind_a_trusted_proxy,
    ui::the_ui_is_served_with_spa_fallback_and_cache_headers,
    events::cluster_events_are_streamed_per_organization,
    events::the_eleventh_stream_of_a_session_is_refused,
    events::an_organization_has_a_cap_of_streams,
    events::the_streams_of_one_organization_share_one_poller,
    http_server::a_slowloris_client_is_dropped_within_the_header_timeout,
    http_server::idle_keep_alives_last_the_idle_timeout_not_the_header_timeout,
    http_server::idle_connections_make_room_at_the_connection_limit,
    http_server::when_every_connection_is_busy_new_ones_are_refused_until_one_ends,
    http_server::a_slow_body_times_out_but_event_streams_outlive_the_request_timeout,
    hardening::workers_and_metrics_show_no_other_organizations_clusters,
    hardening::metrics_need_the_token_when_one_is_set,
    hardening::html_pages_carry_the_security_headers,
    hardening::password_hashing_does_not_stall_other_requests,
    openapi::operation_ids_are_unique,
    sso::groups_give_roles_and_a_removed_group_drops_the_role,
    sso::tokens_for_another_audience_or_already_expired_are_refused,
    sso::sso_refuses_an_id_token_for_another_nonce,
    sso::sso_refuses_an_id_token_with_a_broken_signature,
    sso::refresh_keeps_a_session_alive_and_a_revoked_grant_signs_out,
    sso::password_login_can_be_disabled_and_settings_are_checked,
    sso::a_signing_key_rotated_by_dex_mid_run_is_fetched_not_refused,
    sso::sso_commands_configure_providers_like_the_api,
    openapi::every_reference_resolves,
    openapi::multi_byte_windows_and_steps_are_bad_requests,
    openapi::page_limits_are_documented_and_enforced,
}
