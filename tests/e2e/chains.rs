//! Certificate chains that OpenSSL (and so `model_signing verify certificate`) refuses must
//! be refused by us too: a CA's `pathLenConstraint`, an unknown critical extension, name
//! constraints. Each chain is generated with the `openssl` CLI, signed with our
//! `sign certificate`, and verified by both tools; a control chain verifies with both.

use modelsig_e2e::{Shape, make_model, model_signing, openssl, translate};
use std::path::Path;

/// Root → intermediate → leaf, with extra extension lines for each profile.
fn chain(dir: &Path, root_ext: &str, int_ext: &str, leaf_ext: &str) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
    for key in ["ca.key", "int.key", "key.pem"] {
        openssl(dir, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key]);
    }
    std::fs::write(
        dir.join("ext.cnf"),
        format!(
            "[root]\nbasicConstraints=critical,CA:TRUE{root_ext}\nkeyUsage=critical,keyCertSign\n\
             [int]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n{int_ext}\n\
             [leaf]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n{leaf_ext}\n"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let days = ["-days", "3650"];
    let root = ["req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=chain root", "-out", "ca.pem"];
    openssl(dir, &[&root[..], &days, &["-extensions", "root", "-config", "ext.cnf"]].concat());
    let issue = |key: &str, subject: &str, ca: &str, ca_key: &str, profile: &str, out: &str| {
        let csr = format!("{out}.csr");
        openssl(dir, &["req", "-new", "-key", key, "-subj", subject, "-out", &csr, "-config", "ext.cnf"]);
        let x509 = ["x509", "-req", "-in", &csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial"];
        openssl(
            dir,
            &[&x509[..], &days, &["-extfile", "ext.cnf", "-extensions", profile, "-out", out]].concat(),
        );
    };
    issue("int.key", "/CN=chain intermediate", "ca.pem", "ca.key", "int", "int.pem");
    issue("key.pem", "/CN=chain signer", "int.pem", "int.key", "leaf", "leaf.pem");
}

#[test]
fn chains_openssl_refuses_are_refused() {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    make_model(cwd, Shape::Nested);
    let cases: [(&str, &str, &str, &str, Option<&str>); 5] = [
        ("control", "", "", "subjectAltName=email:signer@example.com", None),
        ("pathlen", ",pathlen:0", "", "", Some("pathLenConstraint")),
        (
            "critical",
            "",
            "",
            "1.3.6.1.4.1.99999.1=critical,ASN1:UTF8String:must-understand",
            Some("unsupported critical extension 1.3.6.1.4.1.99999.1"),
        ),
        (
            "names-ok",
            "",
            "nameConstraints=critical,permitted;email:example.com",
            "subjectAltName=email:signer@example.com",
            None,
        ),
        (
            "names-bad",
            "",
            "nameConstraints=critical,permitted;email:example.com",
            "subjectAltName=email:signer@evil.test",
            Some("email `signer@evil.test` is outside the permitted names"),
        ),
    ];
    for (name, root_ext, int_ext, leaf_ext, refusal) in cases {
        let dir = cwd.join(name);
        chain(&dir, root_ext, int_ext, leaf_ext);
        let p = |f: &str| dir.join(f).display().to_string();
        let sig = format!("{name}.sig");
        translate(
            cwd,
            &[
                "sign",
                "certificate",
                "model",
                "--private_key",
                &p("key.pem"),
                "--signing_certificate",
                &p("leaf.pem"),
                "--certificate_chain",
                &p("int.pem"),
                "--signature",
                &sig,
            ],
        )
        .ok(&format!("{name}: sign"));
        let verify =
            ["verify", "certificate", "model", "--certificate_chain", &p("ca.pem"), "--signature", &sig];
        let ours = translate(cwd, &verify);
        let theirs = model_signing(cwd, &verify);
        match refusal {
            None => {
                ours.ok(&format!("{name}: our verify"));
                theirs.ok(&format!("{name}: model_signing verify"));
            }
            Some(reason) => {
                ours.expect_code(1, &format!("{name}: our verify"));
                let all = format!("{}{}", ours.stdout, ours.stderr);
                assert!(all.contains(reason), "{name}: expected `{reason}` in\n{all}");
                assert!(!ours.stdout.contains("succeeded"), "{name}");
                assert_ne!(theirs.code, 0, "{name}: model_signing (OpenSSL) accepts it:\n{}", theirs.stdout);
            }
        }
    }
}
