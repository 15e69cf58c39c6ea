//! The bot's first boot, executed: the user data `terraform apply` rendered, run byte for byte by
//! bash in a throwaway directory standing for the instance's `/` (`RUNAWAY_ROOT`, which the
//! script prefixes to every path). The system commands it calls that would touch the real
//! machine are stand-ins on PATH that record each call: `aws` (serves the object from a
//! directory standing for the bucket), `id`/`useradd` (the root's own `etc/passwd`), `blkid` /
//! `mkfs.ext4` / `mountpoint` / `mount` (a volume is a directory; formatting marks it, mounting
//! links it at the mount point named by the root's `etc/fstab`; a volume marked `.ambivalent`
//! is one blkid cannot tell, exit 8), `chown`, `systemctl`, `sleep`.
//! Everything else (`mktemp`, `sha256sum`, `install`, `grep`, `cat`) is the real thing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Stand-ins, each recording `name args` (the root's path taken out) in `$RUNAWAY_CALLS`.
const STAND_INS: &[(&str, &str)] = &[
    (
        "aws",
        r#"[ "$1 $2" = "s3 cp" ] || { echo "aws stand-in: only s3 cp" >&2; exit 2; }
object="$RUNAWAY_BUCKETS/${3#s3://}"
[ -f "$object" ] || { echo "fatal error: An error occurred (404) when calling the HeadObject operation: Key \"${3#s3://}\" does not exist" >&2; exit 1; }
cp "$object" "$4""#,
    ),
    (
        "id",
        r#"grep -q "^${@: -1}:" "$RUNAWAY_ROOT/etc/passwd" 2>/dev/null"#,
    ),
    (
        "useradd",
        r#"echo "${@: -1}:x:990:990::/var/lib/runawaytrain:/usr/sbin/nologin" >> "$RUNAWAY_ROOT/etc/passwd""#,
    ),
    (
        "blkid",
        r#"device="${@: -1}"
[ -e "$device" ] || exit 2
[ -f "$device/.ambivalent" ] && exit 8
[ -f "$device/.filesystem" ] && { echo "$device: LABEL=\"$(cat "$device/.filesystem")\" TYPE=\"ext4\""; exit 0; }
exit 2"#,
    ),
    (
        "mkfs.ext4",
        r#"device="${@: -1}"
[ -d "$device" ] || { echo "mkfs.ext4: $device: no such device" >&2; exit 1; }
label=runawaytrain
rm -rf "${device:?}"/* "$device"/.filesystem
echo "$label" > "$device/.filesystem""#,
    ),
    ("mountpoint", r#"[ -L "${@: -1}" ]"#),
    (
        "mount",
        r#"target="$1"
line=$(awk -v m="${target#$RUNAWAY_ROOT}" '$2 == m' "$RUNAWAY_ROOT/etc/fstab")
[ -n "$line" ] || { echo "mount: $target: can't find in /etc/fstab." >&2; exit 1; }
device="$RUNAWAY_ROOT$(echo "$line" | awk '{print $1}')"
[ -f "$device/.filesystem" ] || { echo "mount: $target: wrong fs type, bad superblock on $device" >&2; exit 32; }
rmdir "$target" && ln -s "$(readlink -f "$device")" "$target""#,
    ),
    ("chown", "true"),
    ("systemctl", "true"),
    ("sleep", "true"),
];

/// One instance's root filesystem, fresh from its image: the directories the script expects
/// and systemd's own units (for `systemd-analyze verify`).
pub struct Image {
    pub root: tempfile::TempDir,
    stand_ins: tempfile::TempDir,
}

/// What one run of the user data did.
pub struct Boot {
    pub code: i32,
    pub stderr: String,
    /// The stand-ins' calls, in order, with the root's path taken out.
    pub calls: Vec<String>,
}

impl Boot {
    pub fn called(&self, prefix: &str) -> usize {
        self.calls.iter().filter(|c| c.starts_with(prefix)).count()
    }
}

impl std::fmt::Debug for Boot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- calls\n{}\n--- stderr\n{}",
            self.code,
            self.calls.join("\n"),
            self.stderr
        )
    }
}

impl Image {
    pub fn new() -> Image {
        let root = tempfile::tempdir().unwrap();
        for dir in [
            "etc/systemd/system",
            "usr/local/bin",
            "usr/lib/systemd/system",
            "var/lib",
            "dev/disk/by-id",
        ] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/bash\n",
        )
        .unwrap();
        // systemd's units (targets and the like) as the image has them; links are left out.
        if let Ok(units) = std::fs::read_dir("/usr/lib/systemd/system") {
            for unit in units.flatten() {
                if unit.file_type().is_ok_and(|t| t.is_file()) {
                    std::fs::copy(
                        unit.path(),
                        root.path()
                            .join("usr/lib/systemd/system")
                            .join(unit.file_name()),
                    )
                    .unwrap();
                }
            }
        }
        let stand_ins = tempfile::tempdir().unwrap();
        for (name, body) in STAND_INS {
            let path = stand_ins.path().join(name);
            std::fs::write(
                &path,
                format!(
                    "#!/bin/bash\nargs=\"$*\"\necho \"{name} ${{args//$RUNAWAY_ROOT/}}\" >> \"$RUNAWAY_CALLS\"\n{body}\n"
                ),
            )
            .unwrap();
            let mut p = std::fs::metadata(&path).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o755);
            std::fs::set_permissions(&path, p).unwrap();
        }
        Image { root, stand_ins }
    }

    /// `path` inside this root (`/etc/fstab` → `<root>/etc/fstab`).
    pub fn path(&self, path: &str) -> PathBuf {
        self.root.path().join(path.trim_start_matches('/'))
    }

    /// Attaches `volume` (a directory standing for an EBS volume) as the device `device`.
    pub fn attach(&self, device: &str, volume: &Path) {
        let at = self.path(device);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(volume, at).unwrap();
    }

    /// Runs `user_data` as cloud-init would (bash, as root), with `buckets` standing for S3
    /// (`<buckets>/<bucket>/<key>`).
    pub fn boot(&self, user_data: &str, buckets: &Path) -> Boot {
        let script = self.stand_ins.path().join("user-data");
        std::fs::write(&script, user_data).unwrap();
        let calls = self.stand_ins.path().join("calls");
        let _ = std::fs::remove_file(&calls);
        let path = format!(
            "{}:{}",
            self.stand_ins.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new("bash")
            .arg(&script)
            .env_clear()
            .env("PATH", path)
            .env("RUNAWAY_ROOT", self.root.path())
            .env("RUNAWAY_CALLS", &calls)
            .env("RUNAWAY_BUCKETS", buckets)
            .env("TMPDIR", self.stand_ins.path())
            .output()
            .expect("bash");
        Boot {
            code: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            calls: std::fs::read_to_string(&calls)
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The unit's `Environment=` pairs.
    pub fn unit_environment(&self) -> Vec<(String, String)> {
        self.unit()
            .lines()
            .filter_map(|l| l.strip_prefix("Environment="))
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// The unit the script wrote.
    pub fn unit(&self) -> String {
        std::fs::read_to_string(self.path("/etc/systemd/system/runawaytrain.service"))
            .unwrap_or_default()
    }

    /// `systemd-analyze verify` of the unit in this root: its exit status and what it said.
    pub fn verify(&self) -> (i32, String) {
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", self.root.path().display()))
            .arg("runawaytrain.service")
            .output()
            .expect("systemd-analyze (Debian's systemd package; scripts/setup installs it)");
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// `systemd-analyze security --offline=yes` of the unit in this root: the overall exposure
    /// it rates, and the whole table.
    pub fn exposure(&self) -> (f64, String) {
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(format!("--root={}", self.root.path().display()))
            .arg("runawaytrain.service")
            .output()
            .expect("systemd-analyze");
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        let level = table
            .lines()
            .find_map(|l| l.split_once("Overall exposure level for runawaytrain.service: "))
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "no exposure level in:\n{table}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        (level, table)
    }
}

/// SHA-256 of a file, in hex (sha256sum's).
pub fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}
