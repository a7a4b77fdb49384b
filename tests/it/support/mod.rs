//! The integration-test harness: a real emulator (moto with the project's patches, see
//! `emulator/`) on a free loopback port per test, the real `gio-ami` binary pointed at it, and an
//! SDK client for arranging fixtures. Nothing here imitates AWS.

#![allow(dead_code)] // each test binary uses its own subset of the fixtures

pub mod faults;
pub mod reports;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, InstanceType, ResourceType, Tag, TagSpecification, VolumeType,
};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The specs of tests/specs/valid spell it out too.
pub const REGION: &str = "eu-west-1";
/// moto's default account.
pub const ACCOUNT: &str = "123456789012";
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// EC2's lag in the tests run under eventual consistency (`Emulator::start_lagging`): far longer
/// than the milliseconds between two calls of a run, so every second call after a change meets
/// it, and short enough that the stories stay quick.
pub const LAG: Duration = Duration::from_secs(1);

pub struct Emulator {
    /// Its end of the emulator's connection to the process that forked it: closed (dropped),
    /// the emulator exits.
    connection: UnixStream,
    pub endpoint: String,
    log: PathBuf,
    /// EC2's lag while gio-ami runs (`start_lagging`).
    lag: Option<Duration>,
}

impl Emulator {
    /// Starts a fresh emulator; each test gets its own, so tests never see each other's AMIs.
    /// It binds a port of its own choosing (`--port 0`) and names it in its ready line: a port
    /// picked here could be taken by another test's emulator before the bind, and a connect
    /// check would then talk to that one until its test ends and kills it.
    /// `GIO_EMULATOR_LAG=SECONDS` in the environment starts every test's emulator lagging (see
    /// `start_lagging`), so a whole module can be run under EC2's eventual consistency.
    pub fn start() -> Emulator {
        let lag = std::env::var(LAG_VARIABLE).ok().filter(|v| !v.is_empty());
        let lag = lag.map(|v| Duration::from_secs_f64(v.parse().expect("GIO_EMULATOR_LAG: seconds")));
        Emulator::start_with(lag)
    }

    /// An emulator whose EC2 shows what each gio-ami run changes `lag` late, as AWS's eventual
    /// consistency does (emulator/patches/consistency.py): new AMIs not found by id, the
    /// snapshots of a just-deregistered AMI still in use, tags late. The lag is on while a
    /// `cli()` command runs (`run`) and off otherwise, so a test arranges its scene and checks
    /// the outcome on a settled EC2, as a user whose AMIs are older than a few seconds would.
    pub fn start_lagging(lag: Duration) -> Emulator {
        Emulator::start_with(Some(lag))
    }

    /// The emulator is forked from one that `Forks` started and patched once for the whole test
    /// binary (emulator/gio_emulator.py, `--forks`): each starts exactly as a fresh process
    /// would, without importing and patching moto again (~1.5 s, most of a second of CPU, each).
    fn start_with(lag: Option<Duration>) -> Emulator {
        let log = unique_path("emulator", "log");
        let forks = Forks::running();
        let mut connection = UnixStream::connect(&forks.socket)
            .unwrap_or_else(|e| panic!("reach the emulators' fork server ({e}): {}", tail(&forks.log)));
        let request = serde_json::json!({ "log": log });
        writeln!(connection, "{request}").expect("ask for an emulator");
        connection.set_read_timeout(Some(START_TIMEOUT)).expect("a read timeout");
        let mut ready = String::new();
        let read = BufReader::new(&connection).read_line(&mut ready);
        let Some(endpoint) = ready.trim().strip_prefix("gio-emulator ready ") else {
            panic!(
                "the emulator did not start within {START_TIMEOUT:?} ({read:?}): {}{}",
                tail(&log),
                tail(&forks.log)
            );
        };
        Emulator { connection, endpoint: endpoint.to_string(), log, lag }
    }

    /// The `gio-ami` binary with the environment a user pointing at this emulator would have.
    /// A lagging emulator's lag rides along in the command's environment for `run` to switch on.
    pub fn cli(&self) -> Command {
        let mut command = cli_at(&self.endpoint);
        if let Some(lag) = self.lag {
            command.env(LAG_VARIABLE, lag.as_secs_f64().to_string());
        }
        command
    }

    /// A lagging emulator's lag on (or off) for a command the test spawns itself rather than
    /// `run`s; nothing for an emulator that does not lag.
    pub fn lagged(&self, on: bool) {
        if let Some(lag) = self.lag {
            set_lag_at(&self.endpoint, if on { lag } else { Duration::ZERO });
        }
    }

    /// Runs `emulator/fixtures.py ARGS` against this emulator (scenes other tools would leave).
    pub fn fixture(&self, args: &[&str]) -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Command::new(python());
        out.arg(root.join("emulator/fixtures.py"))
            .args(args)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION);
        let out = output(&mut out);
        assert!(out.status.success(), "fixtures.py {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the emulator's clock (emulator/patches/clock.py) `offset` from the wall clock, in
    /// `fixtures.py clock --offset`'s spelling (`-4d`: what is made now is dated four days ago;
    /// `0`: the wall clock again).
    pub fn set_clock(&self, offset: &str) {
        self.set_clock_offset(seconds(offset));
    }

    fn set_clock_offset(&self, seconds: f64) {
        hook_at(&self.endpoint, "clock", Some(&format!("{{\"offset_seconds\": {seconds}}}")));
    }

    /// Lets `by` pass on the emulator's clock (`fixtures.py clock --advance`'s spelling: `5m`).
    pub fn advance_clock(&self, by: &str) {
        hook_at(&self.endpoint, "clock", Some(&format!("{{\"advance_seconds\": {}}}", seconds(by))));
    }

    /// Dates what the emulator makes `seconds` before its clock's present, until the guard is
    /// dropped (the clock is then as it was). AMI and snapshot creation times have one-second
    /// resolution: resources made a second apart on this clock sort for sure, and no test sleeps
    /// for that second.
    pub fn backdated(&self, seconds: u32) -> Backdated<'_> {
        let offset =
            hook_at(&self.endpoint, "clock", None)["offset_seconds"].as_f64().expect("offset_seconds");
        self.set_clock_offset(offset - f64::from(seconds));
        Backdated { emulator: self, offset }
    }

    /// A fault-injecting proxy in front of this emulator (see `faults`); `proxy.cli()` goes
    /// through it, while `ec2()` and `config()` still read the emulator directly.
    pub fn proxied(&self, faults: faults::Faults) -> faults::FaultProxy {
        faults::FaultProxy::start(&self.endpoint, faults)
    }

    /// An SDK config for arranging fixtures, as the test's own AWS client.
    pub async fn config(&self, region: &str) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(region.to_string()))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .load()
            .await
    }

    pub async fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config(REGION).await)
    }

    /// An SDK config acting in another account of the emulator: the role's, through STS
    /// AssumeRole (the emulator maps the credentials to the role's account, as AWS does).
    pub async fn config_as(&self, role_arn: &str, region: &str) -> aws_config::SdkConfig {
        let config = self.config(region).await;
        let assumed = aws_sdk_sts::Client::new(&config)
            .assume_role()
            .role_arn(role_arn)
            .role_session_name("tests")
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("assuming {role_arn}: {}", aws_smithy_types::error::display::DisplayErrorContext(e))
            });
        let c = assumed.credentials().unwrap();
        let credentials = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().into()),
            None,
            "assumed",
        );
        config
            .into_builder()
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials))
            .build()
    }
}

/// The emulator's clock set back for a while (`Emulator::backdated`): dropped, it runs at the
/// offset it had before.
pub struct Backdated<'a> {
    emulator: &'a Emulator,
    offset: f64,
}

impl Drop for Backdated<'_> {
    fn drop(&mut self) {
        // A test already failing reports its own panic, not a second one from here.
        if !std::thread::panicking() {
            self.emulator.set_clock_offset(self.offset);
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.connection.shutdown(std::net::Shutdown::Both);
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The process that forks every emulator of this test binary, started by the first test that
/// needs one. It exits when its stdin closes, which the kernel does when this process ends: no
/// test has to be the last to stop it.
struct Forks {
    socket: PathBuf,
    log: PathBuf,
    /// Holds its stdin open; never waited for, as it ends with this process.
    _process: Child,
}

impl Forks {
    fn running() -> &'static Forks {
        static FORKS: std::sync::OnceLock<Forks> = std::sync::OnceLock::new();
        FORKS.get_or_init(Forks::start)
    }

    fn start() -> Forks {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = python();
        assert!(
            python.exists(),
            "{} is missing: run scripts/test (it creates the emulator's venv)",
            python.display()
        );
        let log = unique_path("emulators", "log");
        // Not under the target dir: a Unix socket's path has at most 107 bytes.
        let socket = std::env::temp_dir().join(format!("gio-ami-emulators-{}.sock", std::process::id()));
        let mut child = Command::new(&python)
            .arg(root.join("emulator/gio_emulator.py"))
            .arg("--forks")
            .arg(&socket)
            // The lag is this harness's to switch (run), whatever the environment says.
            .env_remove(LAG_VARIABLE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("emulator log file"))
            .spawn()
            .expect("start the emulator");
        let ready = ready_line(child.stdout.take().expect("piped stdout"));
        if ready.recv_timeout(START_TIMEOUT).is_err() {
            let _ = child.kill();
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            panic!("the emulator did not start within {START_TIMEOUT:?} ({status}): {}", tail(&log));
        }
        Forks { socket, log, _process: child }
    }
}

/// The last lines of a log, to show why an emulator did not start.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// Sends the endpoint of the emulator's `gio-emulator ready URL` line, then keeps draining its
/// stdout so a late print can never block it. The sender is dropped unsent if the emulator exits
/// first, which ends the wait at once.
fn ready_line(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout);
        let mut line = String::new();
        while lines.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(url) = line.trim().strip_prefix("gio-emulator ready ") {
                let _ = sender.send(url.to_string());
                let _ = std::io::copy(&mut lines, &mut std::io::sink());
                return;
            }
            line.clear();
        }
    });
    receiver
}

/// The seeded EKS-optimized AL2023 x86_64 standard base of Kubernetes 1.31 recommended now.
pub async fn recommended_base(emulator: &Emulator) -> String {
    let ssm = aws_sdk_ssm::Client::new(&emulator.config(REGION).await);
    let name = "/aws/service/eks/optimized-ami/1.31/amazon-linux-2023/x86_64/standard/recommended/image_id";
    ssm.get_parameter().name(name).send().await.unwrap().parameter.unwrap().value.unwrap()
}

/// A fresh path under the tests' target dir, unique across concurrent tests and test binaries.
fn unique_path(prefix: &str, extension: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // Cargo makes the directory when it builds the tests, not when it runs them: it may have been
    // cleaned out since.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(dir).unwrap();
    dir.join(format!("{prefix}-{}-{n}.{extension}", std::process::id()))
}

/// The emulator's Python: GIO_AMI_PYTHON, else the project's venv.
pub fn python() -> PathBuf {
    std::env::var_os("GIO_AMI_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
}

/// The binary with the environment of a user whose AWS endpoint is `endpoint`.
pub fn cli_at(endpoint: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gio-ami"));
    clean_aws_env(&mut command);
    command
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION);
    command
}

/// The binary with no AWS settings inherited from the machine running the tests.
pub fn bare_cli() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gio-ami"));
    clean_aws_env(&mut command);
    command
}

fn clean_aws_env(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    // No ~/.aws of the machine, and no waiting on an instance metadata service that isn't there.
    command
        .env("AWS_CONFIG_FILE", "/nonexistent/gio-ami-tests/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/gio-ami-tests/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    // Never the user's own cache of base images; a test that keeps one across runs names its own.
    command.env("GIO_AMI_CACHE_DIR", scratch("gio-ami-cache"));
    guestfs_env(command);
}

/// libguestfs's appliance hangs under KVM on the test machines: TCG, unless the environment says.
pub fn guestfs_env(command: &mut Command) {
    if std::env::var_os("LIBGUESTFS_BACKEND_SETTINGS").is_none() {
        command.env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg");
    }
}

/// A small real root disk, made once per test binary with libguestfs (guestfish): 1 GiB, GPT,
/// one XFS partition labelled `root`, holding an os-release, a package database (dpkg's, which
/// libguestfs inspection reads as text), SELinux configured (permissive, as in AL2023) without
/// setfiles, resolv.conf a link to systemd-resolved's stub (as in AL2023), and a static busybox as /bin/sh so that scripts run in it. What the offline engine and `diff` are tested on; about 15 data blocks of 512 KiB.
pub fn base_image() -> PathBuf {
    static MADE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MADE.get_or_init(|| {
        let path = scratch("offline-base").join("base.raw");
        let partial = path.with_extension("partial");
        let script = r#"sparse PARTIAL 1G
run
part-disk /dev/sda gpt
mkfs xfs /dev/sda1 label:root
mount /dev/sda1 /
mkdir-p /bin
mkdir-p /etc
mkdir-p /tmp
mkdir-p /var/lib/dpkg
upload /bin/busybox /bin/busybox
chmod 0755 /bin/busybox
ln-s busybox /bin/sh
write /etc/os-release "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"gio-ami test base\"\n"
write /etc/debian_version "12.0\n"
write /etc/hosts "127.0.0.1 localhost\n"
write /etc/fstab "LABEL=root / xfs defaults 0 0\n"
ln-s ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf
mkdir-p /etc/selinux
write /etc/selinux/config "SELINUX=permissive\nSELINUXTYPE=targeted\n"
write /var/lib/dpkg/status "Package: base-files\nStatus: install ok installed\nVersion: 12.4\nArchitecture: amd64\n\nPackage: busybox-static\nStatus: install ok installed\nVersion: 1:1.35.0-4\nArchitecture: amd64\n\n"
"#
        .replace("PARTIAL", partial.to_str().unwrap());
        let out = guestfish(&[], &script);
        assert!(out.status.success(), "guestfish made no base image: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::rename(&partial, &path).unwrap();
        path
    })
    .clone()
}

/// guestfish with `args`, running `script` from its standard input.
fn guestfish(args: &[&std::ffi::OsStr], script: &str) -> Output {
    let mut command = Command::new("guestfish");
    guestfs_env(&mut command);
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("guestfish (libguestfs-tools)");
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Publishes `base_image()` as the EKS-optimized AL2023 base for Kubernetes 1.31 (Amazon's,
/// public, behind its SSM parameter): its AMI id and root snapshot.
pub fn eks_base(emulator: &Emulator) -> (String, String) {
    let image = base_image();
    let made = emulator.fixture(&["eks-base", "--image", image.to_str().unwrap(), "--kubernetes", "1.31"]);
    let made: serde_json::Value = serde_json::from_str(&made).unwrap();
    (made["ami"].as_str().unwrap().to_string(), made["snapshot"].as_str().unwrap().to_string())
}

/// Reads each of `paths` from the root filesystem of the raw disk image `image`, in one
/// read-only guestfish run: its text, or None where the image has no such file.
pub fn read_in_image(image: &Path, paths: &[&str]) -> Vec<Option<String>> {
    const SEPARATOR: &str = "--gio-ami-test-separator--";
    let script: String = paths.iter().map(|p| format!("is-file {p}\n-cat {p}\necho {SEPARATOR}\n")).collect();
    let out = guestfish(&["--ro".as_ref(), "-a".as_ref(), image.as_os_str(), "-i".as_ref()], &script);
    let read = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "guestfish could not read {}: {read}", image.display());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split(&format!("{SEPARATOR}\n"))
        .take(paths.len())
        .map(|answer| {
            let (is_file, content) = answer.split_once('\n').unwrap_or((answer, ""));
            // guestfish ends what `cat` prints with a newline of its own.
            (is_file == "true").then(|| content.strip_suffix('\n').unwrap_or(content).to_string())
        })
        .collect()
}

/// What a finished command said, with assertions that print all of it on failure.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(command: &mut Command) -> Run {
    let lagging = command.get_envs().find_map(|(key, value)| (key == LAG_VARIABLE).then_some(value?));
    let lag = lagging.map(|lag| Duration::from_secs_f64(lag.to_str().unwrap().parse().unwrap()));
    let endpoint = command.get_envs().find_map(|(key, value)| (key == "AWS_ENDPOINT_URL").then_some(value?));
    let endpoint = endpoint.map(|e| e.to_string_lossy().into_owned());
    let lagged = lag.zip(endpoint);
    if let Some((lag, endpoint)) = &lagged {
        set_lag_at(endpoint, *lag);
    }
    let output = output(command);
    if let Some((_, endpoint)) = &lagged {
        set_lag_at(endpoint, Duration::ZERO);
    }
    ended(output)
}

/// Read by the emulator as its lag (emulator/gio_emulator.py), and by `Emulator::start`.
const LAG_VARIABLE: &str = "GIO_EMULATOR_LAG";

/// Sets the lag of the emulator at `endpoint` (zero: off).
fn set_lag_at(endpoint: &str, lag: Duration) {
    hook_at(endpoint, "consistency", Some(&format!("{{\"lag_seconds\": {}}}", lag.as_secs_f64())));
}

/// POSTs `body` to the emulator's test hook `name` (emulator/README.md, "Test hooks"), or GETs it
/// without one, in plain HTTP, and returns its JSON answer: the harness has no HTTP client, and
/// one request needs none. In process rather than through `fixtures.py`, whose Python start
/// costs more than the hook.
fn hook_at(endpoint: &str, name: &str, body: Option<&str>) -> serde_json::Value {
    use std::io::{Read, Write};
    let address = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("reach the emulator");
    let method = if body.is_some() { "POST" } else { "GET" };
    let body = body.unwrap_or_default();
    write!(
        stream,
        "{method} /moto-api/gio/{name} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("ask the emulator");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("the emulator's answer");
    assert!(answer.split_whitespace().nth(1) == Some("200"), "{method} {name} {body}: {answer}");
    let json = answer.split_once("\r\n\r\n").map_or("", |(_, json)| json);
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{name}'s answer is not JSON ({e}): {answer}"))
}

/// Seconds in the spelling of `fixtures.py clock`: `-48h`, `90m`, `1d`, `30s`, `0`.
fn seconds(duration: &str) -> f64 {
    let unit = |suffix: char| {
        [('s', 1.0), ('m', 60.0), ('h', 3600.0), ('d', 86400.0)].into_iter().find(|(u, _)| *u == suffix)
    };
    let parsed = match duration.chars().last().and_then(unit) {
        Some((_, scale)) => duration[..duration.len() - 1].parse::<f64>().map(|n| n * scale),
        None => duration.parse(),
    };
    parsed.unwrap_or_else(|e| panic!("a duration like -48h, 90m, 1d, 30s or 0, not {duration:?}: {e}"))
}

/// Waits for a spawned gio-ami (stdout and stderr piped) and returns what it said.
pub fn finish(child: Child) -> Run {
    ended(output_of(child))
}

/// How long any child process of a test may run. The slowest (a build, or a command through
/// 50% faults with its retries) ends within a minute on a loaded machine; one still running
/// after this is hung (an interruption it lost, a wait with no end), and the test fails with
/// what it said instead of running into CI's time limit.
pub const CHILD_DEADLINE: Duration = Duration::from_secs(300);

/// `command.output()`, within `CHILD_DEADLINE`.
pub fn output(command: &mut Command) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    output_of(child)
}

/// `child.wait_with_output()`, within `CHILD_DEADLINE`: past it, the child is killed and the
/// test panics with all it said.
pub fn output_of(mut child: Child) -> Output {
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let status = wait_for(&mut child, CHILD_DEADLINE, || {
        format!("stdout:\n{}\nstderr:\n{}", said(stdout.as_ref()), said(stderr.as_ref()))
    });
    let all = |pipe: Option<Drained>| {
        pipe.map(|(reader, text)| {
            let _ = reader.join();
            std::mem::take(&mut *text.lock().unwrap())
        })
        .unwrap_or_default()
    };
    Output { status, stdout: all(stdout), stderr: all(stderr) }
}

/// `child.wait()`, within `CHILD_DEADLINE`, for a child whose output the test reads itself.
pub fn wait(child: &mut Child) -> std::process::ExitStatus {
    wait_within(child, CHILD_DEADLINE)
}

/// `child.wait()`, within `deadline`: past it, the child is killed and the test panics.
pub fn wait_within(child: &mut Child, deadline: Duration) -> std::process::ExitStatus {
    wait_for(child, deadline, || "(its output is read by the test)".to_string())
}

fn wait_for(
    child: &mut Child,
    deadline: Duration,
    said: impl FnOnce() -> String,
) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for a child process") {
            return status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "a child process (pid {}) was still running after {deadline:?}: killed.\n{}",
                child.id(),
                said()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A pipe read to its end by a thread of its own, and what it said so far.
type Drained = (std::thread::JoinHandle<()>, std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

fn drain(mut pipe: impl std::io::Read + Send + 'static) -> Drained {
    let text = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = text.clone();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n @ 1..) = pipe.read(&mut chunk) {
            into.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    (reader, text)
}

fn said(pipe: Option<&Drained>) -> String {
    pipe.map(|(_, text)| String::from_utf8_lossy(&text.lock().unwrap()).into_owned()).unwrap_or_default()
}

fn ended(Output { status, stdout, stderr }: Output) -> Run {
    let run = Run {
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "gio-ami panicked:\n{}", run.stderr);
    run
}

/// How long the emulator's image usage reports stay pending (emulator/patches/usage_reports.py).
pub const REPORT_PENDING: &str = "5m";

/// Runs `command` (a wipe or prune that may wait for an image usage report of an AMI of this
/// emulator's default account) and lets the emulator's clock pass each report's pending
/// minutes once it is made, as a test moves time instead of sleeping. Looks every
/// `REPORT_LOOK`, until the command ends.
pub async fn run_past_usage_reports(emulator: &Emulator, command: &mut Command) -> Run {
    const REPORT_LOOK: Duration = Duration::from_millis(200);
    let ec2 = emulator.ec2().await;
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start gio-ami");
    let mut passed = std::collections::HashSet::new();
    while child.try_wait().expect("gio-ami's status").is_none() {
        if let Some(report) = pending_usage_report(&ec2).await {
            if passed.insert(report) {
                emulator.advance_clock(REPORT_PENDING);
            }
        }
        tokio::time::sleep(REPORT_LOOK).await;
    }
    finish(child)
}

/// An image usage report of the default account still pending, if any.
pub async fn pending_usage_report(ec2: &aws_sdk_ec2::Client) -> Option<String> {
    let pending = aws_sdk_ec2::types::Filter::builder().name("state").values("pending").build();
    let reports = ec2.describe_image_usage_reports().filters(pending).send().await.unwrap();
    reports.image_usage_reports().first().and_then(|r| r.report_id()).map(str::to_string)
}

impl Run {
    pub fn success(self) -> Run {
        assert!(
            self.status.success(),
            "expected success, got {}:\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn failure(self) -> Run {
        assert!(
            !self.status.success(),
            "expected failure, got success:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert_eq!(self.status.code(), Some(1), "stderr:\n{}", self.stderr);
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.stdout))
    }
}

/// The EBS direct APIs' block size.
pub const BLOCK: usize = 512 * 1024;

/// An image of `len` bytes, zeros except the listed 512 KiB blocks, which hold a pattern that
/// differs per block and per byte (so a block written at the wrong index would show).
pub fn write_image(dir: &Path, name: &str, len: usize, data_blocks: &[usize]) -> PathBuf {
    let mut bytes = vec![0u8; len];
    for &index in data_blocks {
        let start = index * BLOCK;
        let end = (start + BLOCK).min(len);
        for (offset, byte) in bytes[start..end].iter_mut().enumerate() {
            *byte = ((index * 31 + offset) % 251) as u8 + 1;
        }
    }
    let path = dir.join(name);
    std::fs::write(&path, &bytes).unwrap();
    path
}

/// A root AMI of our own, registered from a snapshot: the starting point of most stories.
pub async fn register_root_image(ec2: &aws_sdk_ec2::Client, name: &str) -> String {
    let snapshot = new_snapshot(ec2, 8, &format!("root of {name}")).await;
    register_image(ec2, name, &[("/dev/xvda", &snapshot, 8)]).await
}

/// N root AMIs named `prefix`1..N, oldest first, each made a second after the one before on the
/// emulator's clock (creation times have one-second resolution: the order is certain).
pub async fn releases_a_second_apart<const N: usize>(
    emulator: &Emulator,
    ec2: &aws_sdk_ec2::Client,
    prefix: &str,
) -> [String; N] {
    let mut made = Vec::new();
    for n in 1..=N {
        let _then = emulator.backdated((N - n) as u32);
        made.push(register_root_image(ec2, &format!("{prefix}{n}")).await);
    }
    made.try_into().expect("N made")
}

/// "ACTION STATUS" of each outcome of a report (`--output json`), in order.
pub fn statuses(report: &serde_json::Value) -> Vec<String> {
    let outcomes = report["outcomes"].as_array().unwrap_or_else(|| panic!("no outcomes: {report}"));
    outcomes
        .iter()
        .map(|o| format!("{} {}", o["action"].as_str().unwrap(), o["status"].as_str().unwrap()))
        .collect()
}

/// A gio-ami release (tagged gio-ami:release and team=platform, its snapshots too) with an
/// 8 GiB root and a 20 GiB data disk: (AMI, [root, data]).
pub async fn tagged_release(ec2: &aws_sdk_ec2::Client, name: &str) -> (String, Vec<String>) {
    let root = new_snapshot(ec2, 8, &format!("root of {name}")).await;
    let data = new_snapshot(ec2, 20, &format!("data of {name}")).await;
    let ami = register_image(ec2, name, &[("/dev/xvda", &root, 8), ("/dev/xvdb", &data, 20)]).await;
    ec2.create_tags()
        .resources(&ami)
        .resources(&root)
        .resources(&data)
        .tags(aws_sdk_ec2::types::Tag::builder().key("gio-ami:release").value(name).build())
        .tags(aws_sdk_ec2::types::Tag::builder().key("team").value("platform").build())
        .send()
        .await
        .unwrap();
    (ami, vec![root, data])
}

/// The account's own AMI with this id, as DescribeImages shows it, if it is registered.
pub async fn own_image(ec2: &aws_sdk_ec2::Client, ami: &str) -> Option<aws_sdk_ec2::types::Image> {
    let filter = aws_sdk_ec2::types::Filter::builder().name("image-id").values(ami).build();
    ec2.describe_images().owners("self").filters(filter).send().await.unwrap().images().first().cloned()
}

/// A snapshot of a fresh gp3 volume of `size` GiB (the volume is deleted again).
pub async fn new_snapshot(ec2: &aws_sdk_ec2::Client, size: i32, description: &str) -> String {
    let volume = ec2
        .create_volume()
        .availability_zone(format!("{REGION}a"))
        .size(size)
        .volume_type(VolumeType::Gp3)
        .send()
        .await
        .unwrap();
    let snapshot = ec2
        .create_snapshot()
        .volume_id(volume.volume_id().unwrap())
        .description(description)
        .send()
        .await
        .unwrap();
    ec2.delete_volume().volume_id(volume.volume_id().unwrap()).send().await.unwrap();
    snapshot.snapshot_id().unwrap().to_string()
}

/// An x86_64 HVM AMI booting from /dev/xvda with these (device, snapshot, GiB) mappings.
pub async fn register_image(ec2: &aws_sdk_ec2::Client, name: &str, mappings: &[(&str, &str, i32)]) -> String {
    register_image_of(ec2, name, aws_sdk_ec2::types::ArchitectureValues::X8664, mappings).await
}

/// As `register_image`, of this architecture.
pub async fn register_image_of(
    ec2: &aws_sdk_ec2::Client,
    name: &str,
    architecture: aws_sdk_ec2::types::ArchitectureValues,
    mappings: &[(&str, &str, i32)],
) -> String {
    let mut request = ec2
        .register_image()
        .name(name)
        .root_device_name("/dev/xvda")
        .architecture(architecture)
        .virtualization_type("hvm")
        .ena_support(true);
    for (device, snapshot, size) in mappings {
        request = request.block_device_mappings(ebs_mapping(device, Some(snapshot), *size));
    }
    request.send().await.unwrap().image_id().unwrap().to_string()
}

pub fn ebs_mapping(device: &str, snapshot: Option<&str>, size: i32) -> BlockDeviceMapping {
    BlockDeviceMapping::builder()
        .device_name(device)
        .ebs(
            EbsBlockDevice::builder()
                .set_snapshot_id(snapshot.map(str::to_string))
                .volume_size(size)
                .volume_type(VolumeType::Gp3)
                .delete_on_termination(true)
                .build(),
        )
        .build()
}

/// Launches an instance from `ami` with one extra empty disk, then images it: what a builder does.
pub async fn image_instance_with_extra_disk(
    ec2: &aws_sdk_ec2::Client,
    ami: &str,
    name: &str,
) -> (String, String) {
    let reservation = ec2
        .run_instances()
        .image_id(ami)
        .instance_type(InstanceType::T3Medium)
        .min_count(1)
        .max_count(1)
        .block_device_mappings(ebs_mapping("/dev/xvdb", None, 50))
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(Tag::builder().key("Name").value(name).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let instance = reservation.instances()[0].instance_id().unwrap().to_string();
    let image = ec2.create_image().instance_id(&instance).name(name).send().await.unwrap();
    (instance, image.image_id().unwrap().to_string())
}

/// The id of a running builder instance (tagged `gio-ami:build-id`), if one exists right now.
pub async fn running_builder_now(ec2: &aws_sdk_ec2::Client) -> Option<String> {
    use aws_sdk_ec2::types::Filter;
    let out = ec2
        .describe_instances()
        .filters(Filter::builder().name("tag-key").values("gio-ami:build-id").build())
        .filters(Filter::builder().name("instance-state-name").values("running").build())
        .send()
        .await
        .unwrap();
    out.reservations().iter().flat_map(|r| r.instances()).find_map(|i| i.instance_id()).map(str::to_string)
}

/// What the emulator holds that a mutating command could change: the account's AMIs and
/// snapshots, every instance, their states and tags, and every SSM parameter with its version.
/// One line per resource, sorted, so two of them compare (and differ) readably.
pub async fn account_state(emulator: &Emulator) -> Vec<String> {
    let config = emulator.config(REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let tags = |tags: &[Tag]| {
        let mut pairs: Vec<String> = tags
            .iter()
            .map(|t| format!("{}={}", t.key().unwrap_or_default(), t.value().unwrap_or_default()))
            .collect();
        pairs.sort();
        pairs.join(",")
    };
    let mut lines = Vec::new();
    let images = ec2.describe_images().owners("self").send().await.expect("DescribeImages");
    for image in images.images() {
        let state = image.state().map(|s| s.as_str()).unwrap_or_default();
        lines.push(format!(
            "image {} {state} [{}]",
            image.image_id().unwrap_or_default(),
            tags(image.tags())
        ));
    }
    let mut snapshots = ec2.describe_snapshots().owner_ids("self").into_paginator().send();
    while let Some(page) = snapshots.next().await {
        for snapshot in page.expect("DescribeSnapshots").snapshots() {
            let state = snapshot.state().map(|s| s.as_str()).unwrap_or_default();
            let tier = snapshot.storage_tier().map(|s| s.as_str()).unwrap_or_default();
            lines.push(format!(
                "snapshot {} {state} {tier} [{}]",
                snapshot.snapshot_id().unwrap_or_default(),
                tags(snapshot.tags())
            ));
        }
    }
    let binned = ec2.list_images_in_recycle_bin().send().await.expect("ListImagesInRecycleBin");
    lines
        .extend(binned.images().iter().map(|i| format!("binned image {}", i.image_id().unwrap_or_default())));
    let binned = ec2.list_snapshots_in_recycle_bin().send().await.expect("ListSnapshotsInRecycleBin");
    lines.extend(
        binned.snapshots().iter().map(|s| format!("binned snapshot {}", s.snapshot_id().unwrap_or_default())),
    );
    let rbin = aws_sdk_rbin::Client::new(&config);
    for kind in [aws_sdk_rbin::types::ResourceType::Ec2Image, aws_sdk_rbin::types::ResourceType::EbsSnapshot]
    {
        let rules = rbin.list_rules().resource_type(kind).send().await.expect("ListRules");
        lines.extend(rules.rules().iter().map(|r| {
            let days = r.retention_period().map_or(0, |p| p.retention_period_value());
            format!("rule {} {days} days", r.identifier().unwrap_or_default())
        }));
    }
    let reservations = ec2.describe_instances().send().await.expect("DescribeInstances");
    for instance in reservations.reservations().iter().flat_map(|r| r.instances()) {
        let state = instance.state().and_then(|s| s.name()).map(|n| n.as_str()).unwrap_or_default();
        lines.push(format!(
            "instance {} {state} [{}]",
            instance.instance_id().unwrap_or_default(),
            tags(instance.tags())
        ));
    }
    let ssm = aws_sdk_ssm::Client::new(&config);
    let mut parameters = ssm.describe_parameters().into_paginator().send();
    while let Some(page) = parameters.next().await {
        for parameter in page.expect("DescribeParameters").parameters() {
            lines.push(format!(
                "parameter {} v{}",
                parameter.name().unwrap_or_default(),
                parameter.version()
            ));
        }
    }
    lines.sort();
    lines
}

/// Asserts a report has the shape every mutating command shares, unapplied.
pub fn assert_unapplied_report(report: &serde_json::Value) {
    assert!(report["plan"]["actions"].is_array(), "plan.actions: {report}");
    assert!(report["plan"]["warnings"].is_array(), "plan.warnings: {report}");
    assert_eq!(report["applied"], false, "{report}");
    assert_eq!(report["outcomes"], serde_json::json!([]), "{report}");
    for count in ["planned", "changed", "reused", "already_gone", "kept", "failed"] {
        assert!(report["summary"][count].is_u64(), "summary.{count}: {report}");
    }
}

/// The text of `tests/specs/valid/NAME.toml`. Every spec a test runs is one of these files, or
/// one with a value only known at run time put in its place, or with keys added (`with_keys`):
/// `tests/it/conventions.rs` validates them all against `gio-ami schema`.
pub fn spec(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/specs/valid/{name}.toml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with `lines` added at the top of its `[table]`.
pub fn with_keys(text: &str, table: &str, lines: &str) -> String {
    let header = format!("[{table}]\n");
    assert!(text.contains(&header), "no [{table}] in\n{text}");
    text.replacen(&header, &format!("{header}{lines}\n"), 1)
}

/// A fresh directory holding the native build spec (one extra disk; its guest is played by the
/// test, see `running_builder`) and its script; returns the spec's path.
pub fn spec_path(name: &str) -> PathBuf {
    let dir = unique_path(&format!("build-{name}"), "d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("provision.sh"), "#!/bin/bash\necho provisioning\n").unwrap();
    std::fs::write(dir.join("gio-ami.toml"), spec("native-build")).unwrap();
    dir.join("gio-ami.toml")
}

pub fn spawn_build(mut command: Command, spec: &Path) -> Child {
    command
        .args(["build", spec.to_str().unwrap(), "--output", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The running builder, once there is one (None if the build ended without launching).
pub async fn running_builder(ec2: &aws_sdk_ec2::Client, build: &mut Child) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if let Some(id) = running_builder_now(ec2).await {
            return Some(id);
        }
        if build.try_wait().unwrap().is_some() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no builder was launched");
}

/// A directory of its own for one test (under cargo's target tmp dir).
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The SSM parameter the cluster `prod` of `write_cluster_spec` runs (spelled out in its spec).
pub const PARAMETER: &str = "/gio/eks/prod/node-ami";

/// Writes a gio-ami.toml with one cluster, `prod`, in REGION, reading PARAMETER: what publish needs.
pub fn write_cluster_spec(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("gio-ami.toml"), spec("publish-prod")).unwrap();
}

/// How many of the account's AMIs are releases (carry `gio-ami:release`).
pub async fn releases(ec2: &aws_sdk_ec2::Client) -> usize {
    use aws_sdk_ec2::types::Filter;
    let release = Filter::builder().name("tag-key").values("gio-ami:release").build();
    ec2.describe_images().owners("self").filters(release).send().await.expect("DescribeImages").images().len()
}

/// An EKS cluster (Kubernetes 1.31) whose managed nodegroup launches `ami` through a launch template.
pub async fn eks_nodegroup_running(emulator: &Emulator, cluster: &str, ami: &str) {
    let config = emulator.config(REGION).await;
    let template = aws_sdk_ec2::Client::new(&config)
        .create_launch_template()
        .launch_template_name(format!("{cluster}-nodes"))
        .launch_template_data(aws_sdk_ec2::types::RequestLaunchTemplateData::builder().image_id(ami).build())
        .send()
        .await
        .unwrap();
    let id = template.launch_template().unwrap().launch_template_id().unwrap().to_string();
    let eks = aws_sdk_eks::Client::new(&config);
    let role = "arn:aws:iam::123456789012:role/eks";
    eks.create_cluster()
        .name(cluster)
        .role_arn(role)
        .version("1.31")
        .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().subnet_ids("subnet-1").build())
        .send()
        .await
        .unwrap();
    eks.create_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name("nodes")
        .subnets("subnet-1")
        .node_role(role)
        .launch_template(
            aws_sdk_eks::types::LaunchTemplateSpecification::builder().id(id).version("1").build(),
        )
        .send()
        .await
        .unwrap();
}

/// A self-managed node of `cluster`, tagged the Kubernetes way, on an instance type of the AMI's
/// architecture (RunInstances refuses another).
pub async fn node_running(emulator: &Emulator, cluster: &str, ami: &str) {
    let ec2 = emulator.ec2().await;
    let image = ec2.describe_images().image_ids(ami).send().await.unwrap();
    let arm = image.images().first().and_then(|i| i.architecture()).is_some_and(|a| a.as_str() == "arm64");
    ec2.run_instances()
        .image_id(ami)
        .instance_type(if arm { InstanceType::T4gMedium } else { InstanceType::T3Medium })
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(Tag::builder().key(format!("kubernetes.io/cluster/{cluster}")).value("owned").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// The Recycle Bin of REGION active, with the rules `recycle-bin` made there as if made 31
/// minutes ago: "When you create your first retention rule, it can take up to 30 minutes for the
/// rule to become active" (Recycle Bin user guide). The emulator's clock moves past that (its
/// offset, set absolute, is left at 31 minutes); gio-ami, which compares a rule's
/// `gio-ami:created-at` with its own clock, is shown rules that old.
pub async fn recycle_bin_active(emulator: &Emulator) {
    emulator.set_clock("31m");
    let rbin = aws_sdk_rbin::Client::new(&emulator.config(REGION).await);
    let then = gio_ami::core::clock::rfc3339(gio_ami::core::clock::now_epoch() - 31 * 60);
    for kind in [aws_sdk_rbin::types::ResourceType::Ec2Image, aws_sdk_rbin::types::ResourceType::EbsSnapshot]
    {
        for summary in rbin.list_rules().resource_type(kind).send().await.unwrap().rules() {
            let rule = rbin.get_rule().identifier(summary.identifier().unwrap()).send().await.unwrap();
            let created =
                aws_sdk_rbin::types::Tag::builder().key("gio-ami:created-at").value(&then).build().unwrap();
            rbin.tag_resource().resource_arn(rule.rule_arn().unwrap()).tags(created).send().await.unwrap();
        }
    }
}
