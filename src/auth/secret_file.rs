//! The HS256 secret generated for a SQLite database when no key is configured, kept in a
//! file beside the database so that the server and `supportdesk token` agree on it, and
//! so that tokens survive a restart.
//!
//! The file is written whole under a temporary name and then hard-linked into place:
//! linking never replaces a file, so of two processes starting at once one wins and both
//! read its secret, and nobody ever reads a half-written one.
//!
//! Whoever can put a file there chooses the secret, and so can sign tokens for any user.
//! As ssh's `StrictModes` does, the secret is used only from a directory that belongs to
//! the user the server runs as (or to root) and that no one else may write, and only from
//! a file of that user, opened without following a symbolic link.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::settings::{MIN_SECRET_BYTES, Secret};

/// Random bytes in a generated secret (written base64url-encoded, so 43 characters).
const GENERATED_SECRET_BYTES: usize = 32;

/// Owner read and write only.
const PRIVATE_MODE: u32 = 0o600;

/// Group and other write permission.
const WRITABLE_BY_OTHERS: u32 = 0o022;

/// The user id of root, who may own the directory.
const ROOT: u32 = 0;

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
    #[error("{} is a symbolic link: the secret file must be a regular file itself", .path.display())]
    SymbolicLink { path: PathBuf },
    #[error("{} is not a regular file", .path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "{} is owned by uid {owner}, not by uid {user} the server runs as: whoever owns it \
         chooses the secret; remove it, or `chown` it",
        .path.display()
    )]
    NotOwned {
        path: PathBuf,
        owner: u32,
        user: u32,
    },
    #[error(
        "the directory {} of the secret file is owned by uid {owner}, neither by uid {user} \
         the server runs as nor by root",
        .directory.display()
    )]
    DirectoryNotOwned {
        directory: PathBuf,
        owner: u32,
        user: u32,
    },
    #[error(
        "the directory {} of the secret file may be written by other users (mode {mode:o}): \
         run `chmod go-w` on it, or keep the database in a directory of its own",
        .directory.display()
    )]
    DirectoryWritable { directory: PathBuf, mode: u32 },
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
    check_directory(path)?;
    if let Some(secret) = read(path)? {
        return Ok(secret);
    }
    create(path)?;
    read(path)?.ok_or_else(|| SecretFileError::Read {
        path: path.to_owned(),
        source: ErrorKind::NotFound.into(),
    })
}

/// The user the server runs as: the one its files are created for.
fn server_user() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The directory of `path` must be the server user's or root's, and writable by them
/// alone: anyone else who may write there may put a secret of their own in it, or a link.
fn check_directory(path: &Path) -> Result<(), SecretFileError> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let metadata = std::fs::metadata(directory).map_err(|source| SecretFileError::Read {
        path: directory.to_owned(),
        source,
    })?;
    let user = server_user();
    if metadata.uid() != user && metadata.uid() != ROOT {
        return Err(SecretFileError::DirectoryNotOwned {
            directory: directory.to_owned(),
            owner: metadata.uid(),
            user,
        });
    }
    let mode = metadata.permissions().mode();
    if mode & WRITABLE_BY_OTHERS != 0 {
        return Err(SecretFileError::DirectoryWritable {
            directory: directory.to_owned(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

/// The secret in the file, `None` when there is no file. A file others may read, or that
/// another user owns, is refused: whoever reads it can sign tokens for any user, and
/// whoever owns it chose the secret.
fn read(path: &Path) -> Result<Option<Secret>, SecretFileError> {
    let read_error = |source| SecretFileError::Read {
        path: path.to_owned(),
        source,
    };
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path);
    let mut file = match opened {
        Ok(file) => file,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        // What `O_NOFOLLOW` answers when the last component is a symbolic link.
        Err(error) if error.raw_os_error() == Some(libc::ELOOP) => {
            return Err(SecretFileError::SymbolicLink {
                path: path.to_owned(),
            });
        }
        Err(error) => return Err(read_error(error)),
    };
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.is_file() {
        return Err(SecretFileError::NotAFile {
            path: path.to_owned(),
        });
    }
    let user = server_user();
    if metadata.uid() != user {
        return Err(SecretFileError::NotOwned {
            path: path.to_owned(),
            owner: metadata.uid(),
            user,
        });
    }
    let mode = metadata.permissions().mode();
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

/// `O_CREAT | O_EXCL | O_NOFOLLOW`: a new file, never one that is there already, nor
/// where a link points.
fn write_new(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
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
