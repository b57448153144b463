//! The wire contract of the Tiquo Client API, shared by the server and the SDKs.
//!
//! Everything here is plain data with serde derives: the response envelope, the
//! stable error codes, the customer object and the request bodies. Keeping it in
//! its own crate lets a client depend on the contract without pulling in the
//! server.
#![forbid(unsafe_code)]

mod customer;
mod envelope;
mod error_code;
mod money;
mod photo;
mod sign_in;

pub use customer::{Customer, CustomerStatus, ProfileData, ProfileUpdate, UpdatedCustomer, User};
pub use envelope::{ErrorEnvelope, SuccessEnvelope};
pub use error_code::ErrorCode;
pub use money::Money;
pub use photo::{AttachPhoto, PhotoAttached, PhotoUploadUrl, UploadedObject};
pub use sign_in::{CodeSent, LoggedOut, RefreshRequest, SendCode, Tokens, VerifyCode};
