//! Who may do what: finding a repo the caller can see and refusing writes by
//! people without push access, with GitHub's status codes and messages.

use axum::http::StatusCode;

use super::server::ApiError;
use super::state::{ForgeState, RepoRecord};
use crate::forge::Permission;

pub fn repo<'a>(
    state: &'a ForgeState,
    owner: &str,
    name: &str,
) -> Result<&'a RepoRecord, ApiError> {
    state.repo(owner, name).ok_or_else(ApiError::not_found)
}

pub fn repo_mut<'a>(
    state: &'a mut ForgeState,
    owner: &str,
    name: &str,
) -> Result<&'a mut RepoRecord, ApiError> {
    state.repo_mut(owner, name).ok_or_else(ApiError::not_found)
}

/// Refuse unless `login` has at least `needed` on the repo. GitHub answers 403
/// on public repos when the caller can see but not change.
pub fn require(
    state: &ForgeState,
    owner: &str,
    name: &str,
    login: &str,
    needed: Permission,
) -> Result<(), ApiError> {
    let r = repo(state, owner, name)?;
    if state.permission(r, login) >= needed {
        Ok(())
    } else if needed >= Permission::Admin {
        Err(ApiError::forbidden("Must have admin rights to Repository."))
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Must have push access to repository",
        ))
    }
}
