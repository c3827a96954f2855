//! A TCP proxy between the server and its database, which a test cuts and restores to
//! play a network failure or a database restart.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::{TcpSocket, TcpStream, lookup_host};
use tokio::task::AbortHandle;

pub struct TcpProxy {
    address: SocketAddr,
    upstream: SocketAddr,
    /// The tasks of the current period of service; `None` while cut.
    serving: Mutex<Option<Arc<Service>>>,
}

/// The accept loop and connections of one period of service. Once cut it stays cut, so
/// that a connection accepted while the cut happens is closed too.
#[derive(Default)]
struct Service {
    tasks: Mutex<Option<Vec<AbortHandle>>>,
}

impl Service {
    fn track(&self, task: AbortHandle) {
        match lock(&self.tasks).as_mut() {
            Some(tasks) => tasks.push(task),
            None => task.abort(),
        }
    }

    fn cut(&self) {
        for task in lock(&self.tasks).take().into_iter().flatten() {
            task.abort();
        }
    }
}

impl TcpProxy {
    /// A proxy to `upstream` (`host:port`) that accepts connections.
    pub async fn start(upstream: &str) -> Self {
        let proxy = Self::cut_off(upstream).await;
        proxy.restore();
        proxy
    }

    /// A proxy to `upstream` (`host:port`) whose port refuses connections until
    /// [`restore`](Self::restore).
    pub async fn cut_off(upstream: &str) -> Self {
        let upstream = lookup_host(upstream)
            .await
            .expect("the upstream address resolves")
            .next()
            .expect("an upstream address");
        // A free port, closed again: nothing listens on it until `restore`.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let address = probe.local_addr().expect("a local address");
        drop(probe);
        Self {
            address,
            upstream,
            serving: Mutex::new(None),
        }
    }

    /// `url` (`scheme://user@host:port/path?query`) with the proxy as host and port.
    pub fn url_for(&self, url: &str) -> String {
        let scheme_end = url.find("://").expect("a URL") + 3;
        let authority_end = url[scheme_end..]
            .find(['/', '?'])
            .map_or(url.len(), |end| scheme_end + end);
        let host_start = url[scheme_end..authority_end]
            .rfind('@')
            .map_or(scheme_end, |at| scheme_end + at + 1);
        format!(
            "{}{}{}",
            &url[..host_start],
            self.address,
            &url[authority_end..]
        )
    }

    /// Closes every live connection, both ways, and refuses new ones.
    pub fn cut(&self) {
        if let Some(service) = lock(&self.serving).take() {
            service.cut();
        }
    }

    /// Accepts connections again, on the same port.
    pub fn restore(&self) {
        let mut serving = lock(&self.serving);
        if serving.is_some() {
            return;
        }
        let socket = TcpSocket::new_v4().expect("a socket");
        // The port's connections closed by the last cut linger in TIME_WAIT.
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.bind(self.address).expect("the proxy's port is free");
        let listener = socket.listen(128).expect("the proxy listens");
        let service = Arc::new(Service {
            tasks: Mutex::new(Some(Vec::new())),
        });
        let upstream = self.upstream;
        let accepting = tokio::spawn({
            let service = Arc::clone(&service);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let connection = tokio::spawn(pipe(client, upstream));
                    service.track(connection.abort_handle());
                }
            }
        });
        service.track(accepting.abort_handle());
        *serving = Some(service);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Copies both ways until either side closes; aborting the task closes both sockets.
async fn pipe(mut client: TcpStream, upstream: SocketAddr) {
    if let Ok(mut server) = TcpStream::connect(upstream).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The `host:port` of a PostgreSQL URL, with PostgreSQL's default port when it names none.
pub fn postgres_host_port(url: &str) -> String {
    let scheme_end = url.find("://").expect("a URL") + 3;
    let authority = url[scheme_end..]
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    if host_port
        .rsplit(':')
        .next()
        .is_some_and(|port| port.parse::<u16>().is_ok())
        && !host_port.ends_with(']')
    {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    }
}
