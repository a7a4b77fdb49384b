//! A fault-injecting HTTP/1.1 proxy on loopback, in front of the emulator: it answers a share of
//! the requests with what AWS and networks do under load (throttling, 503, a reset before the
//! request arrives, a reset after AWS acted but before the answer came back) and forwards the
//! rest untouched. One request per connection keeps it small: every answer says
//! `Connection: close`, so the SDK never reuses a connection the proxy is about to drop.
//! `cli()` runs gio-ami with a short `--timeout` (CLIENT_TIMEOUT), so that a slow answer held
//! past it costs a test seconds, not the default half minute.
//!
//! `FaultProxy::killing` is the harshest fault of all: once the emulator has answered the k-th
//! request, the proxy sends SIGKILL to the client before the answer reaches it, so AWS acted and
//! the process never learnt it (the moment a crash costs the most).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A proxy that lives longer than any test is a proxy nobody stopped.
const LIFETIME: Duration = Duration::from_secs(600);
/// A client that sends nothing for this long has gone; its thread ends.
const CLIENT_IDLE: Duration = Duration::from_secs(30);
/// How often the accept loop looks at the stop flag.
const ACCEPT_POLL: Duration = Duration::from_millis(5);
/// No more faults after this many (unless `at_most` says fewer): a run can always finish.
const FAULT_BUDGET: usize = 500;
/// gio-ami's per-request timeout through the proxy, in seconds: far above what the emulator
/// takes for the requests of a test, even on a loaded machine.
pub const CLIENT_TIMEOUT: u64 = 4;
/// How long a slow answer is held: past the client's timeout.
const SLOW_BY: Duration = Duration::from_secs(CLIENT_TIMEOUT + 1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// 400 with the protocol's throttling error (EC2 `RequestLimitExceeded`, query `Throttling`,
    /// JSON `ThrottlingException`).
    Throttle,
    /// 503 Service Unavailable.
    Unavailable,
    /// The connection is reset before the request reaches the emulator.
    ResetBefore,
    /// The emulator acts on the request, then the connection is reset before the answer: the
    /// case that makes a retried creation call create twice without a ClientToken.
    ResetAfter,
    /// The emulator acts on the request, and the answer is held past the client's timeout: the
    /// client abandons the attempt and retries, as it must when AWS or the network stalls.
    Slow,
    /// 500 with a body that is no AWS error (an HTML page, as a proxy or a load balancer in
    /// front of the service answers): the client can read neither a code nor a message.
    Unreadable,
}

/// The kinds drawn when a test names none: what AWS itself answers under load. `Unreadable` is
/// not among them, since AWS never sends it; a test that means it asks for it.
const KINDS: [Fault; 5] =
    [Fault::Throttle, Fault::Unavailable, Fault::ResetBefore, Fault::ResetAfter, Fault::Slow];

/// Which requests fail, and how often.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Share of requests answered with a fault, 0.0..=1.0.
    pub rate: f64,
    /// Seeds the generator: the same seed gives the same fault sequence, in request order.
    pub seed: u64,
    /// Only these operations (`DescribeImages`, `GetParameter`...) fail; all when empty. A REST
    /// operation is its method and path, and names every path below it too (`PUT /snapshots`
    /// is every PutSnapshotBlock).
    pub operations: Vec<&'static str>,
    /// Only these kinds are drawn; all when empty.
    pub kinds: Vec<Fault>,
    /// No more faults after this many.
    pub budget: usize,
}

impl Faults {
    pub fn new(rate: f64, seed: u64) -> Self {
        Faults { rate, seed, operations: Vec::new(), kinds: Vec::new(), budget: FAULT_BUDGET }
    }

    pub fn only(mut self, operations: &[&'static str]) -> Self {
        self.operations = operations.to_vec();
        self
    }

    pub fn kinds(mut self, kinds: &[Fault]) -> Self {
        self.kinds = kinds.to_vec();
        self
    }

    pub fn at_most(mut self, faults: usize) -> Self {
        self.budget = faults;
        self
    }
}

/// What the proxy did: every request it saw, and the faults it injected.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub requests: usize,
    pub injected: Vec<(String, Fault)>,
    /// The operation of every request, in the order they arrived (request k is `operations[k-1]`).
    pub operations: Vec<String>,
    /// Whether the kill point was reached and the client killed.
    pub killed: bool,
}

/// The SIGKILL after the k-th request, and the process it goes to.
struct Kill {
    at: usize,
    /// The client's pid, given once it is spawned: the k-th request waits for it.
    victim: Mutex<Option<u32>>,
    aimed: Condvar,
}

impl Kill {
    fn fire(&self) {
        let mut victim = self.victim.lock().unwrap();
        while victim.is_none() {
            victim = self.aimed.wait(victim).unwrap();
        }
        // A pid this test spawned and has not reaped yet.
        let pid = rustix::process::Pid::from_raw(victim.expect("aimed") as i32).expect("a process id");
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

struct Dice {
    faults: Faults,
    state: u64,
    tally: Tally,
}

impl Dice {
    /// splitmix64: tiny, and deterministic per seed.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The request's number (from 1) and its fault, if any.
    fn roll(&mut self, operation: &str) -> (usize, Option<Fault>) {
        self.tally.requests += 1;
        self.tally.operations.push(operation.to_string());
        (self.tally.requests, self.draw(operation))
    }

    fn draw(&mut self, operation: &str) -> Option<Fault> {
        let below = |named: &str| operation.strip_prefix(named).is_some_and(|rest| rest.starts_with('/'));
        let targeted = self.faults.operations.is_empty()
            || self.faults.operations.iter().any(|named| *named == operation || below(named));
        let draw = self.next() as f64 / u64::MAX as f64;
        if !targeted || draw >= self.faults.rate || self.tally.injected.len() >= self.faults.budget {
            return None;
        }
        let pick = self.next();
        let kinds = if self.faults.kinds.is_empty() { &KINDS[..] } else { &self.faults.kinds[..] };
        let fault = kinds[(pick % kinds.len() as u64) as usize];
        self.tally.injected.push((operation.to_string(), fault));
        Some(fault)
    }
}

pub struct FaultProxy {
    pub endpoint: String,
    dice: Arc<Mutex<Dice>>,
    kill: Option<Arc<Kill>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str, faults: Faults) -> FaultProxy {
        Self::listen(upstream, faults, None)
    }

    /// No faults, but SIGKILL to the client (see `aim`) once request `k` has been answered by
    /// the emulator, before the answer is written back; the connection is then reset.
    pub fn killing(upstream: &str, k: usize) -> FaultProxy {
        let kill = Kill { at: k, victim: Mutex::new(None), aimed: Condvar::new() };
        Self::listen(upstream, Faults::new(0.0, 0), Some(Arc::new(kill)))
    }

    /// Names the process `killing` kills: the child spawned with `cli()`.
    pub fn aim(&self, pid: u32) {
        let kill = self.kill.as_ref().expect("a proxy made by `killing`");
        *kill.victim.lock().unwrap() = Some(pid);
        kill.aimed.notify_all();
    }

    fn listen(upstream: &str, faults: Faults, kill: Option<Arc<Kill>>) -> FaultProxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port for the proxy");
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = faults.seed;
        let dice = Arc::new(Mutex::new(Dice { faults, state, tally: Tally::default() }));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (dice, stop, kill) = (dice.clone(), stop.clone(), kill.clone());
            std::thread::spawn(move || accept(listener, &upstream, dice, kill, stop))
        };
        FaultProxy { endpoint, dice, kill, stop, acceptor: Some(acceptor) }
    }

    /// The `gio-ami` binary pointed at the emulator through this proxy.
    pub fn cli(&self) -> std::process::Command {
        let mut command = super::cli_at(&self.endpoint);
        command.env("GIO_AMI_TIMEOUT", CLIENT_TIMEOUT.to_string());
        command
    }

    pub fn tally(&self) -> Tally {
        self.dice.lock().unwrap().tally.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept(
    listener: TcpListener,
    upstream: &str,
    dice: Arc<Mutex<Dice>>,
    kill: Option<Arc<Kill>>,
    stop: Arc<AtomicBool>,
) {
    let started = std::time::Instant::now();
    while !stop.load(Ordering::Relaxed) && started.elapsed() < LIFETIME {
        match listener.accept() {
            Ok((client, _)) => {
                let (upstream, dice, kill) = (upstream.to_string(), dice.clone(), kill.clone());
                std::thread::spawn(move || {
                    let _ = serve(client, &upstream, &dice, kill.as_deref());
                });
            }
            Err(_) => std::thread::sleep(ACCEPT_POLL),
        }
    }
}

/// One request: read it, roll the dice, answer.
fn serve(client: TcpStream, upstream: &str, dice: &Mutex<Dice>, kill: Option<&Kill>) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(CLIENT_IDLE))?;
    let request = read_request(&client)?;
    let (number, fault) = dice.lock().unwrap().roll(&request.operation());
    if let Some(kill) = kill.filter(|kill| kill.at == number) {
        forward(upstream, &request)?;
        kill.fire();
        dice.lock().unwrap().tally.killed = true;
        reset(client);
        return Ok(());
    }
    match fault {
        None => {
            let answer = forward(upstream, &request)?;
            (&client).write_all(&answer)
        }
        Some(Fault::Throttle) => {
            (&client).write_all(&error_answer(&request, 400, "Bad Request", throttling_code(&request)))
        }
        Some(Fault::Unavailable) => {
            (&client).write_all(&error_answer(&request, 503, "Service Unavailable", "ServiceUnavailable"))
        }
        Some(Fault::Unreadable) => (&client).write_all(&unreadable_answer()),
        Some(Fault::ResetBefore) => {
            reset(client);
            Ok(())
        }
        Some(Fault::ResetAfter) => {
            forward(upstream, &request)?;
            reset(client);
            Ok(())
        }
        Some(Fault::Slow) => {
            let answer = forward(upstream, &request)?;
            std::thread::sleep(SLOW_BY);
            // The client has given up on this attempt by now: the write may fail, and that is fine.
            let _ = (&client).write_all(&answer);
            Ok(())
        }
    }
}

struct Request {
    /// Request line and headers, without the blank line.
    head: String,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }

    /// The AWS operation: `Action=` of query protocols (EC2, STS, Auto Scaling), the target of
    /// JSON ones (SSM), else method and path (REST: EKS, EBS).
    fn operation(&self) -> String {
        if let Some(target) = self.header("x-amz-target") {
            return target.rsplit('.').next().unwrap_or(target).to_string();
        }
        let body = String::from_utf8_lossy(&self.body);
        if let Some(action) = body.split('&').find_map(|pair| pair.strip_prefix("Action=")) {
            return action.to_string();
        }
        self.head
            .lines()
            .next()
            .unwrap_or_default()
            .rsplit_once(' ')
            .map(|(l, _)| l.to_string())
            .unwrap_or_default()
    }

    fn is_ec2(&self) -> bool {
        String::from_utf8_lossy(&self.body).contains("Version=2016-11-15")
    }

    fn is_query(&self) -> bool {
        self.body.starts_with(b"Action=") || String::from_utf8_lossy(&self.body).contains("&Action=")
    }
}

fn read_request(client: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(client);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let mut request = Request { head, body: Vec::new() };
    let length: usize = request.header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    request.body = vec![0; length];
    reader.read_exact(&mut request.body)?;
    Ok(request)
}

/// Sends the request on its own connection and returns the answer, marked `Connection: close`.
fn forward(upstream: &str, request: &Request) -> std::io::Result<Vec<u8>> {
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(without_connection_header(&request.head).as_bytes())?;
    server.write_all(b"Connection: close\r\n\r\n")?;
    server.write_all(&request.body)?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer)?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").ok_or(std::io::ErrorKind::InvalidData)?;
    let head = String::from_utf8_lossy(&answer[..split + 2]).into_owned();
    let mut rewritten = without_connection_header(&head).into_bytes();
    rewritten.extend_from_slice(b"Connection: close\r\n\r\n");
    rewritten.extend_from_slice(&answer[split + 4..]);
    Ok(rewritten)
}

fn without_connection_header(head: &str) -> String {
    head.lines()
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .map(|line| format!("{line}\r\n"))
        .collect()
}

fn throttling_code(request: &Request) -> &'static str {
    if request.is_ec2() {
        "RequestLimitExceeded"
    } else if request.is_query() {
        "Throttling"
    } else {
        "ThrottlingException"
    }
}

/// An error answer shaped as the protocol's own: EC2 XML, query `ErrorResponse`, or JSON.
fn error_answer(request: &Request, status: u16, reason: &str, code: &str) -> Vec<u8> {
    let (content_type, body) = if request.is_ec2() {
        (
            "text/xml",
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>injected by the test proxy</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"),
        )
    } else if request.is_query() {
        (
            "text/xml",
            format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected by the test proxy</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"),
        )
    } else {
        (
            "application/x-amz-json-1.1",
            format!("{{\"__type\":\"{code}\",\"message\":\"injected by the test proxy\"}}"),
        )
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-ErrorType: {code}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The page a web server in front of the service shows for its own failure.
fn unreadable_answer() -> Vec<u8> {
    let body = "<html><body>Internal Server Error</body></html>\n";
    format!(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Closes with RST, not FIN: the client sees "connection reset by peer".
fn reset(client: TcpStream) {
    // A zero linger makes close send RST; failing to set it would only soften the fault.
    let _ = rustix::net::sockopt::set_socket_linger(&client, Some(std::time::Duration::ZERO));
    drop(client);
}
