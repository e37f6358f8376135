//! `steady sim`: placeholder until issue 6 lands.
#![forbid(unsafe_code)]

#[derive(Debug, clap::Args)]
pub struct Args {}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("steady sim is not built yet")]
    NotBuilt,
}

pub fn run(_args: Args) -> Result<std::process::ExitCode, Error> {
    Err(Error::NotBuilt)
}
