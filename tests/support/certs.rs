//! Throw-away PKI for the TLS tests, made with the `openssl` command-line tool (.ci/run installs it): a fleet CA,
//! a broker certificate for 127.0.0.1/localhost, a client certificate whose CN is the device id, and a second,
//! untrusted CA with its own client certificate. Everything lives in a temp dir; keys are EC P-256 (fast to
//! make, and a key type rustls' ring provider signs with).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files of one generated PKI. Paths are absolute, inside `dir`.
pub struct Pki {
    pub dir: tempfile::TempDir,
    /// The fleet CA: signed the broker's and the device's certificates.
    pub ca: PathBuf,
    /// The broker's certificate (SAN IP:127.0.0.1, DNS:localhost) and key.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// The device's client certificate (CN = device id) and key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing the broker or the device uses.
    pub rogue_ca: PathBuf,
    /// A client certificate for the same device id, signed by the rogue CA, and its key.
    pub rogue_client_cert: PathBuf,
    pub rogue_client_key: PathBuf,
}

/// Extension sections for the CA, the broker and the client; a config of our own so the host's openssl.cnf
/// (which differs between distributions) plays no part.
const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl (is it installed? .ci/run installs it)");
    assert!(
        out.status.success(),
        "openssl {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn new_key(dir: &Path, name: &str) -> PathBuf {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            name,
        ],
    );
    dir.join(name)
}

fn new_ca(dir: &Path, name: &str, cn: &str) -> PathBuf {
    let key = format!("{name}.key");
    let pem = format!("{name}.pem");
    new_key(dir, &key);
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-config",
            "openssl.cnf",
            "-extensions",
            "ca",
            "-key",
            &key,
            "-subj",
            &format!("/CN={cn}"),
            "-days",
            "2",
            "-sha256",
            "-out",
            &pem,
        ],
    );
    dir.join(pem)
}

/// A leaf certificate `name.pem` (key `name.key`) for `cn`, signed by CA `ca` with extension section `ext`.
fn new_leaf(dir: &Path, ca: &str, name: &str, cn: &str, ext: &str, serial: u32) -> (PathBuf, PathBuf) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let pem = format!("{name}.pem");
    new_key(dir, &key);
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-config",
            "openssl.cnf",
            "-key",
            &key,
            "-subj",
            &format!("/CN={cn}"),
            "-out",
            &csr,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-set_serial",
            &serial.to_string(),
            "-days",
            "2",
            "-sha256",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            ext,
            "-out",
            &pem,
        ],
    );
    (dir.join(pem), dir.join(key))
}

/// Generates the PKI for `device_id`.
pub fn generate(device_id: &str) -> Pki {
    let dir = tempfile::tempdir().expect("pki temp dir");
    let d = dir.path();
    std::fs::write(d.join("openssl.cnf"), OPENSSL_CNF).expect("write openssl.cnf");
    let ca = new_ca(d, "ca", "omnigate test fleet CA");
    let (server_cert, server_key) = new_leaf(d, "ca", "broker", "localhost", "server", 2);
    let (client_cert, client_key) = new_leaf(d, "ca", "device", device_id, "client", 3);
    let rogue_ca = new_ca(d, "rogue-ca", "someone else's CA");
    let (rogue_client_cert, rogue_client_key) = new_leaf(d, "rogue-ca", "rogue-device", device_id, "client", 4);
    Pki {
        dir,
        ca,
        server_cert,
        server_key,
        client_cert,
        client_key,
        rogue_ca,
        rogue_client_cert,
        rogue_client_key,
    }
}
