//! Test certificates made with openssl (`make deps` installs it), as a cluster's PKI makes them:
//! P-256 keys, a CA, and certificates it signs with the extensions a test asks for.

use std::path::Path;
use std::process::Command;

/// Runs `openssl args` in `dir`; an error carries openssl's message.
pub fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A self-signed CA with `subject`: `ca.key` and `ca.pem` in `dir`, valid one day.
pub fn ca(dir: &Path, subject: &str) -> anyhow::Result<()> {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            subject,
        ],
    )
}

/// `<name>.key` and `<name>.pem` in `dir`: a certificate for `subject` signed by [`ca`]'s CA,
/// with `ext` as its extensions (e.g. `subjectAltName=URI:spiffe://...`), valid one day.
pub fn issue(dir: &Path, name: &str, subject: &str, ext: &str) -> anyhow::Result<()> {
    let (key, csr, crt, extfile) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            subject,
        ],
    )?;
    std::fs::write(dir.join(&extfile), ext)?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "1",
            "-extfile",
            &extfile,
        ],
    )
}
