//! A TCP proxy between the server and its database (or Redis), which a test cuts and
//! restores to play a network failure or a restart, or stalls to play a peer that no
//! longer answers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream, lookup_host};
use tokio::sync::watch;
use tokio::task::AbortHandle;

pub struct TcpProxy {
    address: SocketAddr,
    upstream: SocketAddr,
    /// The tasks of the current period of service; `None` while cut.
    serving: Mutex<Option<Arc<Service>>>,
    /// False while stalled: connections stay open, and nothing goes through them.
    flowing: watch::Sender<bool>,
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
            flowing: watch::Sender::new(true),
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

    /// Keeps every connection open, and accepts new ones, but passes no byte either way:
    /// a peer that hangs, or a network that drops packets without a word.
    pub fn stall(&self) {
        self.flowing.send_replace(false);
    }

    /// Passes bytes again after a stall, and accepts connections again, on the same port,
    /// after a cut.
    pub fn restore(&self) {
        self.flowing.send_replace(true);
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
        let flowing = self.flowing.subscribe();
        let accepting = tokio::spawn({
            let service = Arc::clone(&service);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let connection = tokio::spawn(pipe(client, upstream, flowing.clone()));
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

/// Copies both ways until both sides close; aborting the task closes both sockets.
async fn pipe(client: TcpStream, upstream: SocketAddr, flowing: watch::Receiver<bool>) {
    if let Ok(server) = TcpStream::connect(upstream).await {
        let (client_reads, client_writes) = client.into_split();
        let (server_reads, server_writes) = server.into_split();
        tokio::join!(
            relay(client_reads, server_writes, flowing.clone()),
            relay(server_reads, client_writes, flowing),
        );
    }
}

/// Copies what `from` sends to `to` while the proxy flows, and passes on its end.
async fn relay(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut flowing: watch::Receiver<bool>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        let passed = flowing.wait_for(|flowing| *flowing).await.is_ok()
            && to.write_all(&buffer[..read]).await.is_ok();
        if !passed {
            break;
        }
    }
    let _ = to.shutdown().await;
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
