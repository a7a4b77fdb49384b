//! Disk images changed and read on this machine with libguestfs, never booting them: the offline
//! engine's customization and `diff`'s inspection.
//!
//! libguestfs is driven through its `guestfish` tool rather than the `guestfs` crate: the crate
//! links libguestfs.so into gio-ami, so every build of gio-ami and every user (even one who only
//! runs `images`) would need libguestfs and its headers; through the tool it is needed only by the
//! two commands that use it, which name the package to install when it is missing. One guestfish
//! process is one appliance run: commands go one at a time on its standard input, each followed
//! by an `echo` of a marker that ends its answer, so the next command is chosen from the answers
//! (which filesystem is the root, whether SELinux is configured) inside that one run.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

/// Ends each command's answer on guestfish's standard output (`echo` is guestfish's own).
const MARKER: &str = "--gio-ami-guestfish-answered--";
/// How a provisioning script's exit status comes back: printed after its output, since
/// guestfish reports only the standard error of a failed command and the script's output is
/// what the user needs to see.
const EXIT_PREFIX: &str = "gio-ami-script-exit=";
/// The appliance's memory: provisioning scripts run in it (dnf loading AL2023's repository
/// metadata takes most of a GiB), beyond libguestfs's default of 1,280 MiB.
const APPLIANCE_MIB: u32 = 2048;
/// Where a provisioning script is put inside the image while it runs.
const SCRIPT_DIR: &str = "/tmp";

#[derive(Debug, thiserror::Error)]
pub enum GuestfsError {
    #[error(
        "the offline engine and `diff` change and read disk images with libguestfs, which is not \
         installed (no `guestfish` on PATH). Install it: Debian/Ubuntu `sudo apt-get install \
         libguestfs-tools linux-image-generic libguestfs-xfs` (Debian: linux-image-amd64), \
         Fedora/RHEL `sudo dnf install guestfs-tools`; or build with engine = \"native\"."
    )]
    Missing,

    #[error(
        "libguestfs failed at `{command}`: {detail}. If the appliance did not start, check \
         `libguestfs-test-tool`; where KVM hangs, LIBGUESTFS_BACKEND_SETTINGS=force_tcg runs it \
         without KVM (slower)."
    )]
    Failed { command: String, detail: String },

    #[error(
        "no root filesystem was found in {image}: libguestfs inspection recognises no operating \
         system on it. The offline engine changes Linux images whose root is a plain filesystem \
         (XFS or ext4, as in the EKS-optimized AL2023 and AL2 AMIs); pick such a base, or build \
         with engine = \"native\"."
    )]
    NoRoot { image: String },

    #[error(
        "provisioning script {script} failed inside the image (exit status {status}); nothing was \
         uploaded. Its output:\n{output}\nFix the script (it runs in the image's root, chrooted, \
         {network}) and build again."
    )]
    ScriptFailed { script: String, status: i32, output: String, network: &'static str },

    #[error(
        "{command} was still running after {} (build.timeout); the appliance was stopped and \
         nothing was uploaded. Raise build.timeout in the spec if the script needs longer.",
        humantime::format_duration(*limit)
    )]
    TimedOut { command: String, limit: Duration },

    #[error("{base} cannot be built offline: {why}.")]
    Unsupported { base: String, why: &'static str },

    #[error(
        "{owner} of {destination} is not a {kind} of the image (its /etc/{file} has no such name): \
         use a name the image has, or a number"
    )]
    UnknownOwner { owner: String, destination: String, kind: &'static str, file: &'static str },
}

type Result<T, E = GuestfsError> = std::result::Result<T, E>;

impl GuestfsError {
    /// A timed-out command named by the script it ran.
    fn timed_out(self, script: &str, limit: Duration) -> GuestfsError {
        match self {
            GuestfsError::TimedOut { .. } => {
                GuestfsError::TimedOut { command: format!("provisioning script {script}"), limit }
            }
            other => other,
        }
    }
}

/// A disk image handed to the appliance.
pub struct Drive<'a> {
    pub path: &'a Path,
    pub writable: bool,
}

/// One appliance run.
pub struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// What guestfish says on its standard error, read aside (so a talkative appliance never
    /// blocks on a full pipe) until it ends.
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Session {
    /// Starts guestfish with `drives` (writable ones with discard, so that discarded blocks become
    /// holes of the raw file) and boots the appliance; `network` gives it user-mode networking.
    pub fn launch(drives: &[Drive], network: bool) -> Result<Session> {
        let mut child = Command::new("guestfish")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => GuestfsError::Missing,
                _ => GuestfsError::Failed { command: "guestfish".into(), detail: e.to_string() },
            })?;
        let mut pipe = child.stderr.take().expect("piped");
        let stderr = Some(std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        }));
        let mut session = Session {
            stdin: child.stdin.take().expect("piped"),
            stdout: BufReader::new(child.stdout.take().expect("piped")),
            child,
            stderr,
        };
        for drive in drives {
            let path = quote(&drive.path.display().to_string());
            let access = if drive.writable { "discard:besteffort" } else { "readonly:true" };
            session.call(&format!("add-drive {path} format:raw {access}"))?;
        }
        if network {
            session.call("set-network true")?;
        }
        // LIBGUESTFS_MEMSIZE, when set, is the user's word (libguestfs reads it itself).
        if std::env::var_os("LIBGUESTFS_MEMSIZE").is_none() {
            session.call(&format!("set-memsize {APPLIANCE_MIB}"))?;
        }
        session.call("run")?;
        Ok(session)
    }

    /// Sends one command line and returns its answer (standard output up to the marker).
    pub fn call(&mut self, line: &str) -> Result<String> {
        let failed = |session: &mut Session, detail: String| GuestfsError::Failed {
            command: line.split_whitespace().next().unwrap_or(line).to_string(),
            detail: session.why(detail),
        };
        if let Err(e) = writeln!(self.stdin, "{line}\necho {MARKER}").and_then(|()| self.stdin.flush()) {
            return Err(failed(self, e.to_string()));
        }
        let mut answer = String::new();
        loop {
            let mut read = String::new();
            match self.stdout.read_line(&mut read) {
                Ok(0) => return Err(failed(self, "guestfish ended".into())),
                Ok(_) if read.trim_end() == MARKER => return Ok(answer),
                Ok(_) => answer.push_str(&read),
                Err(e) => return Err(failed(self, e.to_string())),
            }
        }
    }

    /// `call`, but the appliance is stopped once `limit` has passed (guestfish has no timeout
    /// of its own): then `GuestfsError::TimedOut`.
    pub fn call_within(&mut self, line: &str, limit: Duration) -> Result<String> {
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32);
        let watchdog = std::thread::spawn(move || {
            let expired = wait.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout);
            // libguestfs's recovery process stops the appliance once guestfish is gone.
            if let (true, Some(pid)) = (expired, pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
            expired
        });
        let answer = self.call(line);
        drop(done);
        match (watchdog.join().unwrap_or(false), answer) {
            (true, _) => Err(GuestfsError::TimedOut { command: line.to_string(), limit }),
            (false, answer) => answer,
        }
    }

    /// Ends the run, its changes written back (guestfish syncs the drives on exit).
    pub fn finish(mut self) -> Result<()> {
        // `exit` ends guestfish whether or not its input is closed; a guestfish already gone has
        // nothing to read it.
        let _ = writeln!(self.stdin, "exit").and_then(|()| self.stdin.flush());
        let status = self
            .child
            .wait()
            .map_err(|e| GuestfsError::Failed { command: "exit".into(), detail: e.to_string() })?;
        if !status.success() {
            return Err(GuestfsError::Failed { command: "exit".into(), detail: self.why(String::new()) });
        }
        Ok(())
    }

    /// What guestfish said on its standard error, once it has ended (it exits on a failed command;
    /// its end closes the pipe, which ends the reading), or `fallback` when it said nothing.
    fn why(&mut self, fallback: String) -> String {
        let _ = self.child.wait();
        let said = self.stderr.take().and_then(|reading| reading.join().ok()).unwrap_or_default();
        let said: Vec<&str> =
            said.lines().map(|l| l.trim_start_matches("libguestfs: error: ").trim()).collect();
        match said.join("; ") {
            said if said.trim().is_empty() => fallback,
            said => said,
        }
    }

    /// The operating system roots inspection finds, in drive order.
    pub fn roots(&mut self) -> Result<Vec<String>> {
        Ok(lines(&self.call("inspect-os")?))
    }

    /// Mounts `root` at / and the filesystems its fstab names under it, shortest mount point
    /// first: the image as it boots. With online discard where the filesystem takes it: a block
    /// this session frees (a package cache cleaned, a script removed) becomes a hole of the
    /// image file, so it is not uploaded, while the base's own free space keeps what it held and
    /// is inherited from the base, not sent as zeros (as a whole-filesystem trim would).
    pub fn mount(&mut self, root: &str) -> Result<()> {
        let mut points: Vec<(String, String)> =
            lines(&self.call(&format!("inspect-get-mountpoints {root}"))?)
                .iter()
                .filter_map(|line| line.split_once(": ").map(|(at, dev)| (at.to_string(), dev.to_string())))
                .collect();
        points.sort_by_key(|(at, _)| at.len());
        for (at, device) in points {
            // `-`: a filesystem refusing the option is mounted without it below.
            self.call(&format!("-mount-options discard {device} {}", quote(&at)))?;
            let mounted = lines(&self.call("mountpoints")?).iter().any(|l| l.ends_with(&format!(": {at}")));
            if !mounted {
                self.call(&format!("mount {device} {}", quote(&at)))?;
            }
        }
        Ok(())
    }

    /// Mounts the root filesystem alone at /, read-only. With two images of one lineage in the
    /// appliance, fstab's labels and UUIDs name both disks' filesystems at once, so only the
    /// device inspection found is trusted; XFS refuses a second filesystem of the same UUID
    /// unless told `nouuid`.
    pub fn mount_root_read_only(&mut self, root: &str) -> Result<()> {
        let options = match self.call(&format!("vfs-type {root}"))?.trim() {
            "xfs" => "ro,nouuid",
            _ => "ro",
        };
        self.call(&format!("mount-options {options} {root} /")).map(drop)
    }

    pub fn unmount_all(&mut self) -> Result<()> {
        self.call("umount-all").map(drop)
    }

    /// The packages `root`'s package database lists (it must be mounted), by name and architecture.
    pub fn packages(&mut self, root: &str) -> Result<BTreeMap<String, String>> {
        Ok(parse_applications(&self.call(&format!("inspect-list-applications2 {root}"))?))
    }

    /// The mounted tree as a tar archive in `to` (numeric owners, as the image has them).
    pub fn tar_out(&mut self, to: &Path) -> Result<()> {
        self.call(&format!("tar-out / {} numericowner:true", quote(&to.display().to_string()))).map(drop)
    }
}

/// What the offline engine does to an image, in order: files copied, then scripts run.
pub struct Customization<'a> {
    pub files: Vec<Placed<'a>>,
    /// Scripts on this machine, with the name they are shown by.
    pub scripts: Vec<(PathBuf, String)>,
    pub network: bool,
    /// How long each script may run (`build.timeout`) before the appliance is stopped.
    pub timeout: Duration,
}

/// One `[[build.files]]` table, its source resolved on this machine.
pub struct Placed<'a> {
    pub source: PathBuf,
    pub file: &'a crate::spec::File,
}

/// What the customization found and did, for the build's report.
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct Customized {
    pub root: String,
    pub files: usize,
    pub scripts: usize,
    /// How an image with SELinux configured was relabelled; none without SELinux.
    pub relabel: Option<Relabel>,
}

/// How SELinux labels are set on what the customization wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Relabel {
    /// libguestfs's own `selinux-relabel` (its appliance has setfiles).
    Appliance,
    /// The image's setfiles, chrooted.
    Image,
    /// Neither has setfiles (Debian's appliance has none): `/.autorelabel`, so the node relabels
    /// at its first boot (one extra reboot) rather than boot with files unlabelled.
    AtFirstBoot,
}

/// Where SELinux images keep setfiles (policycoreutils).
const SETFILES: &str = "/usr/sbin/setfiles";

/// The best way to relabel there is, from what the appliance and the image offer. Pure.
fn relabelling(appliance: bool, image: bool) -> Relabel {
    match (appliance, image) {
        (true, _) => Relabel::Appliance,
        (false, true) => Relabel::Image,
        (false, false) => Relabel::AtFirstBoot,
    }
}

/// Changes `image` in place as `customization` says, in one appliance run; `say` hears of each step.
pub fn customize(image: &Path, customization: &Customization, say: &dyn Fn(&str)) -> Result<Customized> {
    say("starting the libguestfs appliance");
    let mut session = Session::launch(&[Drive { path: image, writable: true }], customization.network)?;
    let root = session
        .roots()?
        .into_iter()
        .next()
        .ok_or_else(|| GuestfsError::NoRoot { image: image.display().to_string() })?;
    session.mount(&root)?;
    let mut done = Customized { root: root.clone(), ..Customized::default() };
    let owners = if customization.files.iter().any(|p| p.file.owner.is_some()) {
        Some((session.call("cat /etc/passwd")?, session.call("cat /etc/group")?))
    } else {
        None
    };
    for placed in &customization.files {
        let file = placed.file;
        say(&format!("copying {} to {}", file.source.display(), file.destination));
        let destination = quote(&file.destination);
        let parent = Path::new(&file.destination).parent().unwrap_or(Path::new("/")).display().to_string();
        session.call(&format!("mkdir-p {}", quote(&parent)))?;
        session.call(&format!("upload {} {destination}", quote(&placed.source.display().to_string())))?;
        session.call(&format!("chmod 0{:o} {destination}", file.mode))?;
        if let (Some(owner), Some((passwd, group))) = (&file.owner, &owners) {
            let uid = id_of(&owner.user, passwd, &file.destination, ("user", "passwd"))?;
            let gid = match &owner.group {
                Some(name) => id_of(name, group, &file.destination, ("group", "group"))?,
                None => primary_group(&owner.user, passwd).unwrap_or(uid),
            };
            session.call(&format!("chown {uid} {gid} {destination}"))?;
        }
        done.files += 1;
    }
    let resolver = match customization.network && !customization.scripts.is_empty() {
        true => Some(borrow_resolver(&mut session)?),
        false => None,
    };
    for (n, (script, shown)) in customization.scripts.iter().enumerate() {
        say(&format!("running {shown} in the image"));
        let inside = format!("{SCRIPT_DIR}/gio-ami-provision-{n}");
        session.call(&format!("mkdir-p {SCRIPT_DIR}"))?;
        session.call(&format!("upload {} {}", quote(&script.display().to_string()), quote(&inside)))?;
        session.call(&format!("chmod 0755 {}", quote(&inside)))?;
        let line = format!("sh {}", quote(&format!("{inside} 2>&1; echo {EXIT_PREFIX}$?")));
        let output = session
            .call_within(&line, customization.timeout)
            .map_err(|e| e.timed_out(shown, customization.timeout))?;
        session.call(&format!("rm-f {}", quote(&inside)))?;
        let (output, status) = script_result(&output);
        if status != 0 {
            let network = if customization.network {
                "with network"
            } else {
                "without network unless build.network = true"
            };
            return Err(GuestfsError::ScriptFailed { script: shown.clone(), status, output, network });
        }
        done.scripts += 1;
    }
    if let Some(kept) = resolver {
        give_back_resolver(&mut session, kept)?;
    }
    if let Some(policy) = selinux_policy(&mut session)? {
        let contexts = format!("/etc/selinux/{policy}/contexts/files/file_contexts");
        let appliance = session.call("feature-available selinuxrelabel")?.trim() == "true";
        let image = session.call(&format!("is-file {SETFILES}"))?.trim() == "true";
        let relabel = relabelling(appliance, image);
        done.relabel = Some(relabel);
        match relabel {
            Relabel::Appliance => {
                say("relabelling SELinux contexts");
                session.call(&format!("selinux-relabel {} / forcerelabel:true", quote(&contexts)))?;
            }
            Relabel::Image => {
                say("relabelling SELinux contexts with the image's own setfiles");
                // -m: this kernel has no SELinux, so no mount is "seclabel"; the API filesystems
                // the chroot borrows from the appliance are left out by hand.
                let command = format!(
                    "{SETFILES} -F -m -e /proc -e /sys -e /dev {contexts} / 2>&1; echo {EXIT_PREFIX}$?"
                );
                let (output, status) = script_result(&session.call(&format!("sh {}", quote(&command)))?);
                if status != 0 {
                    return Err(GuestfsError::Failed { command: SETFILES.into(), detail: output });
                }
            }
            Relabel::AtFirstBoot => {
                say("no setfiles here or in the image: the image relabels itself at its first boot");
                session.call("touch /.autorelabel")?;
            }
        }
    }
    session.unmount_all()?;
    session.finish()?;
    Ok(done)
}

/// Where the image's own resolver configuration waits while scripts run with the network.
const KEPT_RESOLVER: &str = "/etc/resolv.conf.gio-ami-kept";

/// Gives the image the appliance's DNS resolver for its scripts: the image's own is usually a
/// link to a local stub (AL2023: systemd-resolved's 127.0.0.53) that nothing answers in a chroot.
/// Whether the image had one, to give back.
fn borrow_resolver(session: &mut Session) -> Result<bool> {
    // The appliance's own file, which libguestfs writes for its user-mode network; no other call
    // reads the appliance rather than the image.
    let appliance = session.call(&format!("debug sh {}", quote("cat /etc/resolv.conf")))?;
    let present = ["is-symlink", "exists"]
        .iter()
        .map(|test| session.call(&format!("{test} /etc/resolv.conf")))
        .collect::<Result<Vec<_>>>()?
        .iter()
        .any(|answer| answer.trim() == "true");
    if present {
        session.call(&format!("mv /etc/resolv.conf {KEPT_RESOLVER}"))?;
    }
    session.call(&format!("write /etc/resolv.conf {}", quote(&appliance)))?;
    Ok(present)
}

/// Puts the image's resolver configuration back as it was (a link stays a link).
fn give_back_resolver(session: &mut Session, kept: bool) -> Result<()> {
    session.call("rm-f /etc/resolv.conf")?;
    if kept {
        session.call(&format!("mv {KEPT_RESOLVER} /etc/resolv.conf"))?;
    }
    Ok(())
}

/// The SELinux policy to relabel with, when the image's config enables SELinux (enforcing or
/// permissive: both label files, and a node booting with wrong labels denies or logs).
fn selinux_policy(session: &mut Session) -> Result<Option<String>> {
    if session.call("is-file /etc/selinux/config")?.trim() != "true" {
        return Ok(None);
    }
    let config = session.call("cat /etc/selinux/config")?;
    let value = |key: &str| {
        config
            .lines()
            .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('=').map(|v| v.trim().to_string()))
    };
    Ok(match value("SELINUX").as_deref() {
        Some("enforcing" | "permissive") => Some(value("SELINUXTYPE").unwrap_or_else(|| "targeted".into())),
        _ => None,
    })
}

/// A script's output and exit status, from what `sh` printed.
fn script_result(answer: &str) -> (String, i32) {
    let trimmed = answer.trim_end();
    match trimmed.rsplit_once(EXIT_PREFIX) {
        Some((output, status)) => (output.trim_end().to_string(), status.trim().parse().unwrap_or(-1)),
        None => (trimmed.to_string(), -1),
    }
}

/// The numeric id of `name` in a passwd or group file's text; a number is itself.
fn id_of(
    name: &str,
    table: &str,
    destination: &str,
    (kind, file): (&'static str, &'static str),
) -> Result<u32> {
    if let Ok(id) = name.parse() {
        return Ok(id);
    }
    table
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            (fields.next() == Some(name)).then(|| fields.nth(1)?.parse().ok()).flatten()
        })
        .ok_or_else(|| GuestfsError::UnknownOwner {
            owner: name.to_string(),
            destination: destination.to_string(),
            kind,
            file,
        })
}

/// A user's primary group id (the fourth field of its passwd line).
fn primary_group(user: &str, passwd: &str) -> Option<u32> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&user) || user.parse::<u32>().ok() == fields.get(2)?.parse().ok())
            .then(|| fields.get(3)?.parse().ok())
            .flatten()
    })
}

/// `inspect-list-applications2`'s records as name (with its architecture) -> version, spelled
/// `epoch:version-release` as package managers do, the parts it lacks left out.
fn parse_applications(answer: &str) -> BTreeMap<String, String> {
    let mut packages = BTreeMap::new();
    let mut record: BTreeMap<&str, &str> = BTreeMap::new();
    let mut close = |record: &mut BTreeMap<&str, &str>| {
        if let Some(name) = record.get("app2_name").filter(|n| !n.is_empty()) {
            let arch = record.get("app2_arch").copied().unwrap_or_default();
            let key = if arch.is_empty() { name.to_string() } else { format!("{name}.{arch}") };
            let epoch = record.get("app2_epoch").copied().filter(|e| !e.is_empty() && *e != "0");
            let release = record.get("app2_release").copied().filter(|r| !r.is_empty());
            let version = record.get("app2_version").copied().unwrap_or_default();
            let full = format!(
                "{}{version}{}",
                epoch.map(|e| format!("{e}:")).unwrap_or_default(),
                release.map(|r| format!("-{r}")).unwrap_or_default()
            );
            packages.insert(key, full);
        }
        record.clear();
    };
    for line in answer.lines() {
        let line = line.trim();
        if line == "}" {
            close(&mut record);
        } else if let Some((key, value)) = line.split_once(':') {
            record.insert(key.trim(), value.trim());
        }
    }
    close(&mut record);
    packages
}

fn lines(answer: &str) -> Vec<String> {
    answer.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// A guestfish argument: double-quoted, its backslashes and quotes escaped.
fn quote(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_s_status_is_read_after_its_output() {
        assert_eq!(script_result("hello\nworld\ngio-ami-script-exit=3\n"), ("hello\nworld".into(), 3));
        assert_eq!(script_result("gio-ami-script-exit=0\n"), (String::new(), 0));
        assert_eq!(script_result("cut short"), ("cut short".into(), -1));
    }

    #[test]
    fn owners_are_looked_up_in_the_image_s_own_tables() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nec2-user:x:1000:1001::/home/ec2-user:/bin/bash\n";
        let group = "root:x:0:\nwheel:x:10:ec2-user\n";
        assert_eq!(id_of("ec2-user", passwd, "/f", ("user", "passwd")).unwrap(), 1000);
        assert_eq!(id_of("wheel", group, "/f", ("group", "group")).unwrap(), 10);
        assert_eq!(id_of("42", group, "/f", ("group", "group")).unwrap(), 42);
        assert_eq!(primary_group("ec2-user", passwd), Some(1001));
        let err = id_of("nobody", passwd, "/etc/motd", ("user", "passwd")).unwrap_err().to_string();
        assert!(err.starts_with("nobody of /etc/motd is not a user of the image"), "{err}");
    }

    #[test]
    fn applications_become_versions_by_name_and_architecture() {
        let answer = "[0] = {\n  app2_name: jq\n  app2_epoch: 0\n  app2_version: 1.6\n  app2_release: 4.amzn2023\n  app2_arch: x86_64\n}\n[1] = {\n  app2_name: busybox-static\n  app2_epoch: 1\n  app2_version: 1.35.0\n  app2_release: \n  app2_arch: amd64\n}\n";
        let packages = parse_applications(answer);
        assert_eq!(packages["jq.x86_64"], "1.6-4.amzn2023");
        assert_eq!(packages["busybox-static.amd64"], "1:1.35.0");
        assert_eq!(packages.len(), 2);
    }

    #[test]
    fn relabelling_prefers_the_appliance_then_the_image_then_the_first_boot() {
        assert_eq!(relabelling(true, true), Relabel::Appliance);
        assert_eq!(relabelling(true, false), Relabel::Appliance);
        assert_eq!(relabelling(false, true), Relabel::Image);
        assert_eq!(relabelling(false, false), Relabel::AtFirstBoot);
    }

    #[test]
    fn arguments_are_quoted_for_guestfish() {
        assert_eq!(quote(r#"/a b/"c"\d"#), r#""/a b/\"c\"\\d""#);
        assert_eq!(quote("nameserver 1.2.3.4\n"), r#""nameserver 1.2.3.4\n""#);
    }
}
