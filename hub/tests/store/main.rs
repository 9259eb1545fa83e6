//! The store conformance suite: every case runs against SQLite and PostgreSQL.
//!
//! Add a case as an `async fn(TestStore)` in a domain module and list it below;
//! `backend_cases!` generates one test per backend, so a behaviour cannot be tested on one
//! only.

mod accounts;
mod actions;
mod agent_links;
mod api;
mod budgets;
mod cluster_counts;
mod cluster_info;
mod clusters;
mod cost_failover;
mod cost_pages;
mod cost_report;
mod cost_worker;
mod costs;
mod enrollment;
mod fleet;
mod group_commit;
mod group_merge;
mod ingest;
mod keyset;
mod leases;
mod lists;
mod namespace_sort;
mod node_prices;
mod oidc;
mod organizations;
mod plans;
mod pod_search;
mod quotas;
mod rightsizing;
mod search;
mod search_scale;
mod webhook_delivery;
mod workload_costs;
mod workload_usage;
mod workloads;

#[path = "../support/mod.rs"]
mod support;

use support::{fixtures, harness};

support::backend_cases! {
    crate::harness::TestStore::open =>
    organizations::a_new_database_has_the_default_organization,
    organizations::ensuring_an_organization_is_idempotent,
    organizations::reopening_keeps_data_and_migrations_are_idempotent,
    organizations::the_store_answers_pings,
    clusters::clusters_are_created_listed_and_scoped_by_organization,
    clusters::a_taken_name_is_a_conflict,
    clusters::health_errors_identity_and_heartbeats_are_recorded,
    clusters::pull_targets_are_enabled_kubeconfig_clusters_of_every_org,
    clusters::deleting_a_cluster_removes_everything_collected_from_it,
    cluster_info::cluster_info_is_stored_once_and_a_version_change_is_audited,
    ingest::a_snapshot_then_deltas_match_the_reference_inventory,
    ingest::a_replayed_batch_changes_nothing_and_a_gap_is_refused,
    ingest::a_relist_removes_what_was_deleted_while_disconnected,
    ingest::deleted_pods_keep_their_history,
    ingest::random_streams_match_the_reference_inventory,
    ingest::usage_is_additive_and_exactly_once,
    rightsizing::rightsizing_gathers_workload_containers_per_namespace,
    workload_usage::folding_an_hour_adds_it_once_and_again_rebuilds_its_day,
    workload_usage::the_backfill_folds_each_unfolded_hour_once,
    ingest::maintenance_purges_ended_rows_past_retention,
    plans::a_clusters_namespaces_are_read_through_its_index,
    enrollment::a_single_use_token_enrolls_once,
    enrollment::expired_and_revoked_tokens_are_refused,
    enrollment::a_reusable_token_enrolls_the_same_cluster_twice,
    enrollment::tokens_are_listed_and_revoked_per_organization,
    enrollment::enrolling_a_cluster_again_revokes_its_earlier_certificates,
    enrollment::agent_state_and_health_follow_the_cursor,
    agent_links::resync_requests_are_recorded_scoped_and_cleared_once_delivered,
    agent_links::session_links_judge_each_sessions_certificate_in_one_call,
    api::users_sessions_and_api_tokens,
    accounts::a_tokens_role_is_capped_by_its_users_and_follows_every_change,
    accounts::user_writes_of_another_organization_change_nothing,
    accounts::an_organization_keeps_an_enabled_admin,
    accounts::racing_mutual_demotions_leave_an_admin,
    accounts::emails_are_unique_per_organization_and_login_finds_each,
    accounts::the_accounts_migration_keeps_users_sessions_and_tokens,
    actions::operators_are_stored_for_users_and_tokens,
    actions::operation_switches_default_and_change_per_organization,
    actions::an_idempotency_key_answers_its_first_result_until_it_expires,
    actions::a_released_or_abandoned_claim_runs_again,
    actions::the_operator_migration_keeps_users_and_what_hangs_off_them,
    oidc::providers_and_mappings_are_kept_per_organization,
    oidc::a_login_is_taken_once_and_expires,
    oidc::sign_in_provisions_links_and_keeps_organizations_apart,
    oidc::a_providers_session_renews_once_and_ends_with_the_session,
    api::the_audit_log_is_filtered_and_paged_per_organization,
    api::cluster_and_inventory_pages_are_scoped_counted_and_stable,
    api::namespace_pages_count_live_objects_in_the_org,
    cluster_counts::kept_cluster_counts_follow_every_ingest_path,
    cluster_counts::namespace_counts_follow_every_ingest_path,
    enrollment::the_hub_ca_is_created_once_and_persists,
    enrollment::racing_redemptions_of_a_single_use_token_have_one_winner,
    group_commit::concurrent_batches_of_many_clusters_each_apply_once,
    group_commit::a_failing_batch_amid_good_ones_rolls_back_only_itself,
    group_commit::closing_the_store_applies_every_queued_batch,
    group_merge::a_clusters_consecutive_batches_in_one_group_apply_in_order,
    group_merge::a_failing_batch_in_a_merged_group_is_refused_alone_in_sequence,
    costs::the_hour_input_holds_what_ran_in_the_hour,
    costs::saving_replaces_the_period_and_moves_the_marks,
    costs::cost_rows_are_scoped_by_organization,
    costs::price_overrides_resolve_per_scope,
    node_prices::pricing_modes_and_catalogs_resolve_per_scope,
    node_prices::a_node_priced_hour_keeps_its_gpus_and_pricing,
    cost_worker::the_worker_computes_backfills_and_rolls_up,
    cost_worker::the_hour_in_progress_is_costed_so_far_then_for_good,
    cost_report::reports_group_filter_and_match_the_view,
    cost_pages::hourly_rows_page_by_key_in_order_once_each,
    cost_report::the_namespace_series_matches_the_daily_view,
    search::free_text_ranks_exact_then_prefix_then_substring_across_clusters,
    search::each_key_filters_and_terms_combine,
    search::facets_count_the_whole_match_and_deleted_objects_leave_it,
    search::the_pod_name_index_follows_upserts_deletes_and_purges,
    pod_search::pods_are_found_by_status_labels_and_images,
    pod_search::broad_matches_are_counted_up_to_the_scan_limit,
    search_scale::pages_merged_from_each_kind_walk_every_match_in_order,
    search_scale::label_and_name_indexes_follow_relabels_deletes_and_purges,
    lists::inventory_lists_page_by_keyset_both_ways_with_a_name_filter,
    lists::inventory_lists_sort_by_columns_both_ways_across_pages_with_ties,
    namespace_sort::namespaces_sort_by_their_live_pods_across_pages,
    keyset::the_cluster_list_pages_by_keyset_in_every_order,
    keyset::the_audit_log_pages_by_keyset_through_entries_of_one_instant,
    fleet::the_fleet_groups_health_counts_and_month_cost,
    leases::a_contended_lease_has_one_holder,
    leases::a_lapsed_lease_is_taken_over_with_a_greater_token,
    leases::only_the_holder_renews_and_a_release_frees_the_lease,
    leases::a_write_under_a_moved_lease_is_refused_and_changes_nothing,
    leases::replicas_are_live_while_they_beat,
    leases::a_taken_lease_supersedes_its_holder,
    cost_failover::every_cost_hour_is_computed_once_across_a_failover,
    workloads::workloads_are_ingested_pruned_scoped_and_removed_with_their_cluster,
    workloads::a_pods_top_owner_resolves_through_its_replicaset_or_job,
    quotas::quotas_and_limit_ranges_are_ingested_changed_pruned_and_scoped,
    quotas::a_namespaces_failing_pods_are_found_by_status_and_judged,
    workload_costs::workload_costs_split_each_hour_and_regroup_exactly,
    budgets::budgets_are_kept_per_organization_with_unique_names,
    budgets::a_months_spend_counts_each_hour_once_per_scope,
    budgets::budget_thresholds_fire_once_with_a_delivery_per_enabled_endpoint,
    budgets::an_hour_over_its_weeks_median_fires_an_anomaly_once,
    budgets::each_delivery_attempt_is_recorded_and_moves_the_queue,
    webhook_delivery::webhooks_are_signed_retried_and_reach_a_receiver_that_comes_up,
    webhook_delivery::a_delivery_is_given_up_after_its_last_attempt,
    webhook_delivery::a_receiver_the_egress_policy_refuses_is_a_failed_attempt_that_contacts_nothing,
}
