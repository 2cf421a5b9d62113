//! Driver slots on this host: how many session drivers may run at once. A session beyond them
//! waits in PROVISIONING, first come first served, until a slot frees; it is refused only by
//! the separate live-session quota. A slot is held for as long as the session's driver process
//! may exist (until its task has stopped it), so a stopping driver still counts.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

pub struct Capacity {
    limit: usize,
    state: Mutex<State>,
}

struct State {
    in_use: usize,
    /// Sessions waiting for a slot, oldest first (a closed receiver is a session that stopped).
    waiting: VecDeque<oneshot::Sender<Slot>>,
}

/// One driver's place on the host; dropping it gives the place to the oldest waiter.
pub struct Slot {
    capacity: Arc<Capacity>,
}

/// A place in the queue, taken synchronously (so that creation order is queue order).
pub enum Ticket {
    Granted(Slot),
    Queued(oneshot::Receiver<Slot>),
}

impl Ticket {
    /// The slot, once granted.
    pub async fn slot(self) -> Slot {
        match self {
            Ticket::Granted(slot) => slot,
            // The sender lives in the capacity's queue, which outlives every ticket.
            Ticket::Queued(rx) => match rx.await {
                Ok(slot) => slot,
                Err(_) => std::future::pending().await,
            },
        }
    }
}

impl Capacity {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            state: Mutex::new(State {
                in_use: 0,
                waiting: VecDeque::new(),
            }),
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot now if one is free and nobody waits, else a place at the back of the queue.
    pub fn enqueue(self: &Arc<Self>) -> Ticket {
        let mut state = self.state();
        if state.in_use < self.limit && state.waiting.is_empty() {
            state.in_use += 1;
            return Ticket::Granted(self.slot());
        }
        let (tx, rx) = oneshot::channel();
        state.waiting.push_back(tx);
        Ticket::Queued(rx)
    }

    /// A slot whatever the limit: for a driver that already runs (re-attached after a restart).
    pub fn adopt(self: &Arc<Self>) -> Slot {
        self.state().in_use += 1;
        self.slot()
    }

    /// Slots held and sessions waiting (for status output and tests).
    pub fn usage(&self) -> (usize, usize) {
        let state = self.state();
        let waiting = state.waiting.iter().filter(|tx| !tx.is_closed()).count();
        (state.in_use, waiting)
    }

    fn slot(self: &Arc<Self>) -> Slot {
        Slot {
            capacity: Arc::clone(self),
        }
    }

    fn release(self: &Arc<Self>) {
        let mut state = self.state();
        state.in_use -= 1;
        while state.in_use < self.limit {
            let Some(next) = state.waiting.pop_front() else {
                return;
            };
            state.in_use += 1;
            if let Err(slot) = next.send(self.slot()) {
                // That session stopped while it waited: the slot is still free. Forgotten, not
                // dropped, since dropping would release under this lock.
                std::mem::forget(slot);
                state.in_use -= 1;
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.capacity.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(ticket: &mut Ticket) -> Option<Slot> {
        match ticket {
            Ticket::Granted(_) => {
                let Ticket::Granted(slot) =
                    std::mem::replace(ticket, Ticket::Queued(oneshot::channel().1))
                else {
                    unreachable!()
                };
                Some(slot)
            }
            Ticket::Queued(rx) => rx.try_recv().ok(),
        }
    }

    #[test]
    fn waiters_are_served_in_order() {
        let capacity = Capacity::new(2);
        let mut tickets: Vec<Ticket> = (0..5).map(|_| capacity.enqueue()).collect();
        let mut held: Vec<Slot> = tickets[..2].iter_mut().filter_map(granted).collect();
        assert_eq!(held.len(), 2);
        assert!(tickets[2..].iter_mut().all(|t| granted(t).is_none()));
        assert_eq!(capacity.usage(), (2, 3));
        drop(held.remove(0));
        let third = granted(&mut tickets[2]).expect("the oldest waiter gets the freed slot");
        assert!(granted(&mut tickets[3]).is_none());
        drop(third);
        assert!(granted(&mut tickets[3]).is_some());
    }

    #[test]
    fn a_waiter_that_left_gives_its_turn_on() {
        let capacity = Capacity::new(1);
        let first = granted(&mut capacity.enqueue()).unwrap();
        let gone = capacity.enqueue();
        let mut next = capacity.enqueue();
        drop(gone); // stopped while queued
        drop(first);
        let held = granted(&mut next);
        assert!(held.is_some());
        assert_eq!(capacity.usage(), (1, 0));
    }

    #[test]
    fn adopted_drivers_count_even_over_the_limit() {
        let capacity = Capacity::new(1);
        let a = capacity.adopt();
        let b = capacity.adopt();
        let mut waiting = capacity.enqueue();
        drop(a);
        assert!(granted(&mut waiting).is_none(), "still one over the limit");
        drop(b);
        assert!(granted(&mut waiting).is_some());
    }
}
