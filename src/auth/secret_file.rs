//! The HS256 secret generated for a SQLite database when no key is configured, kept in a
//! file beside the database so that the server and `supportdesk token` agree on it, and
//! so that tokens survive a restart.
//!
//! The file is written whole under a temporary name and then hard-linked into place:
//! linking never replaces a file, so of two processes starting at once one wins and both
//! read its secret, and nobody ever reads a half-written one.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::settings::{MIN_SECRET_BYTES, Secret};

/// Random bytes in a generated secret (written base64url-encoded, so 43 characters).
const GENERATED_SECRET_BYTES: usize = 32;

/// Owner read and write only.
const PRIVATE_MODE: u32 = 0o600;

#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("cannot create {}: {source}", .path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} may be read by other users (mode {mode:o}): run `chmod 600` on it", .path.display())]
    Exposed { path: PathBuf, mode: u32 },
    #[error("{} holds fewer than {MIN_SECRET_BYTES} bytes of secret", .path.display())]
    TooShort { path: PathBuf },
    #[error("no randomness for a secret: {0}")]
    Random(getrandom::Error),
}

/// `<database file>.jwt-secret`.
pub fn path_beside(database_file: &Path) -> PathBuf {
    let mut path = database_file.as_os_str().to_owned();
    path.push(".jwt-secret");
    PathBuf::from(path)
}

/// The secret in the file at `path`, generated there first when there is none.
pub fn load_or_create(path: &Path) -> Result<Secret, SecretFileError> {
    if let Some(secret) = read(path)? {
        return Ok(secret);
    }
    create(path)?;
    read(path)?.ok_or_else(|| SecretFileError::Read {
        path: path.to_owned(),
        source: ErrorKind::NotFound.into(),
    })
}

/// The secret in the file, `None` when there is no file. A file others may read is
/// refused: whoever reads it can sign tokens for any user.
fn read(path: &Path) -> Result<Option<Secret>, SecretFileError> {
    let read_error = |source| SecretFileError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(read_error(error)),
    };
    let mode = file.metadata().map_err(read_error)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(SecretFileError::Exposed {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(read_error)?;
    let secret = text.trim();
    if secret.len() < MIN_SECRET_BYTES {
        return Err(SecretFileError::TooShort {
            path: path.to_owned(),
        });
    }
    Ok(Some(Secret::new(secret)))
}

/// Writes a new secret to `path` unless another process got there first.
fn create(path: &Path) -> Result<(), SecretFileError> {
    let create_error = |source| SecretFileError::Create {
        path: path.to_owned(),
        source,
    };
    let mut bytes = [0u8; GENERATED_SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(SecretFileError::Random)?;
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(SecretFileError::Random)?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", URL_SAFE_NO_PAD.encode(suffix)));
    let temporary = PathBuf::from(temporary);

    let written = write_new(&temporary, &URL_SAFE_NO_PAD.encode(bytes))
        .and_then(|()| std::fs::hard_link(&temporary, path));
    // The temporary name goes whether the link was made or not.
    let _ = std::fs::remove_file(&temporary);
    match written {
        Ok(()) => {
            tracing::info!(
                path = %path.display(),
                "no JWT key is configured: generated a JWT secret for this database"
            );
            Ok(())
        }
        Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(create_error(error)),
    }
}

fn write_new(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_MODE)
        .open(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_path() -> (tempfile::TempDir, PathBuf) {
        let directory = tempfile::tempdir().expect("a directory");
        let path = path_beside(&directory.path().join("app.db"));
        (directory, path)
    }

    #[test]
    fn the_file_sits_beside_the_database() {
        assert_eq!(
            path_beside(Path::new("data/app.db")),
            Path::new("data/app.db.jwt-secret")
        );
    }

    #[test]
    fn a_first_start_generates_a_long_secret_only_the_owner_may_read() {
        let (_directory, path) = secret_path();

        let secret = load_or_create(&path).expect("a secret");

        assert!(secret.expose().len() >= MIN_SECRET_BYTES);
        let mode = std::fs::metadata(&path)
            .expect("a file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_later_start_reads_the_same_secret() {
        let (_directory, path) = secret_path();
        let first = load_or_create(&path).expect("a secret");

        let second = load_or_create(&path).expect("a secret");

        assert_eq!(first, second);
    }

    #[test]
    fn no_temporary_file_is_left_behind() {
        let (directory, path) = secret_path();
        load_or_create(&path).expect("a secret");

        let names = std::fs::read_dir(directory.path())
            .expect("a listing")
            .count();

        assert_eq!(names, 1);
    }

    #[test]
    fn a_file_others_may_read_is_refused() {
        let (_directory, path) = secret_path();
        load_or_create(&path).expect("a secret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");

        let error = load_or_create(&path).expect_err("refused");

        assert!(matches!(error, SecretFileError::Exposed { .. }), "{error}");
    }

    #[test]
    fn a_file_with_a_short_secret_is_refused() {
        let (_directory, path) = secret_path();
        write_new(&path, "s3cret").expect("written");

        let error = load_or_create(&path).expect_err("refused");

        assert!(matches!(error, SecretFileError::TooShort { .. }), "{error}");
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_secret() {
        let (_directory, path) = secret_path();

        let secrets: Vec<Secret> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| load_or_create(&path).expect("a secret")))
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("no panic"))
                .collect()
        });

        assert!(secrets.windows(2).all(|pair| pair[0] == pair[1]));
    }
}
