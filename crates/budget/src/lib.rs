//! steady's decision engine: budget math, pod availability, budget status and the admission
//! decision, as pure functions of plain data. No I/O, no async, no clock reads: time is always a
//! parameter. The webhook, the controller and the simulator all call this crate, so a reader who
//! wants to know why a pod was refused reads it alone.
#![forbid(unsafe_code)]

pub mod decision;
pub mod input;
pub mod intstr;
pub mod owner;
pub mod pod;
pub mod rolling;
pub mod selector;
pub mod spec;
pub mod status;
pub mod update;

pub use decision::{Allow, BudgetView, Decision, Denial, DenyReason, Request, Take, decide};
pub use input::{BudgetSpecError, BudgetSpecInput, ValueInput};
pub use intstr::{IntOrPercent, IntOrPercentError};
pub use owner::{NoOwners, OwnerInfo, OwnerLookup, Resolution, resolve, resolve_from};
pub use pod::{OwnerRef, PodFacts, PodPhase};
pub use rolling::RollingUpdate;
pub use selector::{Labels, Selector, SelectorError};
pub use spec::{
    BudgetId, BudgetKind, BudgetSpec, Operation, OperationSet, Policy, Target, TargetRef,
    UnhealthyPodPolicy,
};
pub use status::{
    BudgetEvent, BudgetStatus, Condition, ConditionReason, DEFAULT_EXPIRY, NONE_GONE, StatusInput,
    StatusOutcome, StatusTally, compute_status, finish_status,
};
pub use update::{Restart, resize_restart, update_restart};
