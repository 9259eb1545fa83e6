//! [`FrameMemory`]: process-wide allowances of bytes for frame bodies being read and for the
//! messages decoded from them, so that many connections at once cannot together hold more.
//!
//! A frame's length prefix says what it may cost before any of its body is read: its bytes,
//! and the decoded heap its decode limits allow ([`super::budget::decoded_allowance`]).
//! [`super::FrameReader`] reserves the body's bytes from [`FrameMemory::bodies`] before
//! reading it, then the allowance from [`FrameMemory::decoded`] before decoding it, gives the
//! body's share back once decoded, and keeps of the allowance only the decoder's estimate of
//! the message, which the caller holds ([`MemoryHold`]) until the message is processed. Each
//! reservation waits, in arrival order, while its budget is spent elsewhere.
//!
//! Two budgets rather than one: a body arrives at the peer's pace, so a peer that stalls
//! mid-frame (until the reader's body timeout) holds only the bytes it declared, not the
//! eight times more its decode may use; and a reader holding a body while it waits for the
//! decode allowance never waits on a budget that bodies hold, so reservations cannot block
//! each other in a circle.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes shared by every reader admitted against it. Cheap to clone (clones share them).
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    total: u64,
}

/// The two budgets a frame reader admits frames against (module docs).
#[derive(Debug, Clone)]
pub struct FrameMemory {
    /// Bytes of frame bodies being read.
    pub bodies: MemoryBudget,
    /// Decode allowances, then the estimates of decoded messages until they are processed.
    pub decoded: MemoryBudget,
}

impl FrameMemory {
    /// Budgets of `bodies` and `decoded` bytes.
    pub fn new(bodies: u64, decoded: u64) -> Self {
        Self {
            bodies: MemoryBudget::new(bodies),
            decoded: MemoryBudget::new(decoded),
        }
    }

    /// Whether nothing is reserved from either budget.
    pub fn is_idle(&self) -> bool {
        self.bodies.available() == self.bodies.total()
            && self.decoded.available() == self.decoded.total()
    }
}

/// A share of a [`MemoryBudget`], given back when dropped. A reader without a budget hands
/// out empty holds.
#[derive(Debug, Default)]
pub struct MemoryHold {
    permit: Option<OwnedSemaphorePermit>,
}

impl MemoryBudget {
    /// A budget of `bytes` (at most what a semaphore can count, 2^61 on 64-bit targets).
    pub fn new(bytes: u64) -> Self {
        let total = bytes.min(Semaphore::MAX_PERMITS as u64);
        Self {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// The whole budget.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes not reserved right now.
    pub fn available(&self) -> u64 {
        self.permits.available_permits() as u64
    }

    /// Reserves `bytes`, waiting until they are free. A reservation larger than the whole
    /// budget is cut to the whole budget, so that it can be granted at all.
    pub async fn reserve(&self, bytes: u64) -> MemoryHold {
        let bytes = u32::try_from(bytes.min(self.total)).unwrap_or(u32::MAX);
        let permit = self
            .permits
            .clone()
            .acquire_many_owned(bytes)
            .await
            .expect("the budget's semaphore is never closed");
        MemoryHold {
            permit: Some(permit),
        }
    }
}

impl MemoryHold {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.permit.as_ref().map_or(0, |p| p.num_permits() as u64)
    }

    /// Gives back everything above `bytes`.
    pub fn shrink_to(&mut self, bytes: u64) {
        if let Some(permit) = &mut self.permit {
            let excess = (permit.num_permits() as u64).saturating_sub(bytes);
            drop(permit.split(excess as usize));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn reservations_wait_for_the_budget_and_shrink_back() {
        let budget = MemoryBudget::new(100);
        let mut first = budget.reserve(70).await;
        assert_eq!((first.bytes(), budget.available()), (70, 30));
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.reserve(50).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "50 bytes are not free yet");
        first.shrink_to(20);
        let second = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((first.bytes(), second.bytes()), (20, 50));
        assert_eq!(budget.available(), 30);
        drop((first, second));
        assert_eq!(budget.available(), 100);
    }

    #[tokio::test]
    async fn a_reservation_above_the_whole_budget_gets_all_of_it() {
        let budget = MemoryBudget::new(10);
        let hold = budget.reserve(1_000).await;
        assert_eq!((hold.bytes(), budget.available()), (10, 0));
        assert_eq!(MemoryHold::default().bytes(), 0);
    }
}
