//! PodSecurityPolicy, revived: the removed admission plugin's strategies, defaulting
//! (`MutatePod`) and validation (`ValidatePod`), exactly as Kubernetes ≤ 1.24 ran them, on
//! podsec's pod model. Error texts are the plugin's field errors.

pub mod field;
pub mod model;
mod provider;
pub mod pss_mapping;
pub mod selection;
mod strategy;

pub use field::{error_list, BadValue, ErrorType, FieldError};
pub use model::{kubectl_table, PodSecurityPolicy, PspSpec};
pub use provider::{Provider, ProviderError};
