//! The status a pod is known by: what `kubectl get pods` prints in its STATUS column, so the
//! hub's pages and search say `CrashLoopBackOff` where people expect it, not the phase.

use super::{ContainerKind, ContainerState, PodPhase, PodProjection};

/// `status.reason` of pods whose node stopped answering; such pods print `Unknown` once
/// deletion is under way, since nothing will confirm their termination.
const NODE_LOST: &str = "NodeLost";

/// kubectl's printer rule: the phase, overridden by `status.reason`; while init containers
/// with a reported state run, `Init:<reason>` (a failed or waiting one) or `Init:N/M`; then the first app container
/// that waits or ended with a reason (`CrashLoopBackOff`, `Completed`, `ExitCode:N`);
/// `Terminating` (or `Unknown` on a lost node) once deletion is requested of a pod that has
/// not finished.
pub fn pod_status(pod: &PodProjection) -> String {
    let mut status = pod
        .reason
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| format!("{:?}", pod.phase));

    let init: Vec<_> = pod
        .containers
        .iter()
        .filter(|c| c.kind != ContainerKind::App)
        .collect();
    let mut initializing = false;
    // Like kubectl, only containers with a reported status count (legacy agents sent none).
    let reported = init.iter().enumerate().filter(|(_, c)| c.state.is_some());
    for (done, container) in reported {
        match &container.state {
            Some(ContainerState::Terminated { exit_code: 0, .. }) => continue,
            Some(ContainerState::Running) if container.kind == ContainerKind::Sidecar => continue,
            Some(ContainerState::Terminated { reason, exit_code }) => {
                status = match reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(reason) => format!("Init:{reason}"),
                    None => format!("Init:ExitCode:{exit_code}"),
                };
            }
            Some(ContainerState::Waiting {
                reason: Some(reason),
            }) if !reason.is_empty() && reason != "PodInitializing" => {
                status = format!("Init:{reason}");
            }
            _ => status = format!("Init:{done}/{}", init.len()),
        }
        initializing = true;
        break;
    }

    if !initializing {
        let mut running = false;
        let apps = pod
            .containers
            .iter()
            .filter(|c| c.kind == ContainerKind::App);
        // The last assignment wins, so walking backwards leaves the first container's reason.
        for container in apps.rev() {
            match &container.state {
                Some(ContainerState::Waiting {
                    reason: Some(reason),
                }) if !reason.is_empty() => status = reason.clone(),
                Some(ContainerState::Terminated { reason, exit_code }) => {
                    status = match reason.as_deref().filter(|r| !r.is_empty()) {
                        Some(reason) => reason.to_owned(),
                        None => format!("ExitCode:{exit_code}"),
                    };
                }
                Some(ContainerState::Running) if container.ready => running = true,
                _ => {}
            }
        }
        if status == "Completed" && running {
            status = if pod.ready { "Running" } else { "NotReady" }.to_owned();
        }
    }

    if pod.deleted.is_some() {
        if pod.reason.as_deref() == Some(NODE_LOST) {
            status = "Unknown".to_owned();
        } else if !matches!(pod.phase, PodPhase::Succeeded | PodPhase::Failed) {
            status = "Terminating".to_owned();
        }
    }
    status
}

#[cfg(test)]
pub(crate) mod tests;
