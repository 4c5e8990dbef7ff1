//! Test helper: unlock a store and write test blobs forever, until killed.
//! Usage: blob-writer DATA_DIR USER PASSWORD START_INDEX

use anyhow::{Context, Result};
use domain::UserName;
use store::{Clock, SecretString, Store};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, user, password, start] = args.as_slice() else {
        anyhow::bail!("usage: blob-writer DATA_DIR USER PASSWORD START_INDEX");
    };
    let start: u64 = start.parse().context("START_INDEX")?;
    let store = Store::open(std::path::Path::new(dir), Clock::system())?;
    let mut session = store.unlock(
        &UserName::parse(user)?,
        &SecretString::from(password.clone()),
    )?;
    println!("ready");
    for i in start.. {
        session.put_blob(amtsstube_tests::blob_content(i))?;
    }
    Ok(())
}
