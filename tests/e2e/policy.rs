//! Trust policy: verify and pull without trust flags, decided per repository by a policy
//! file (enforce / warn / off, any / all signers), found from --policy, $MODELSIG_POLICY or
//! $XDG_CONFIG_HOME; malformed files refused with file, rule and key named.

use modelsig_e2e::registry::Registry;
use modelsig_e2e::{Pki, Run, Shape, bin, make_model, oras, run, translate};
use std::path::Path;
use std::process::Command;

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
}

fn oras_env(cwd: &Path, env: &[(&str, &Path)], args: &[&str]) -> Run {
    let mut c = Command::new(bin("oras-modelsig"));
    c.args(args).current_dir(cwd).env_remove("MODELSIG_POLICY").env("XDG_CONFIG_HOME", cwd.join("no-config"));
    for (k, v) in env {
        c.env(k, v);
    }
    run(&mut c)
}

fn files_in(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn policies_decide_verify_and_pull_per_repository() {
    let reg = Registry::start();
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    make_model(cwd, Shape::Nested);
    let team = Pki::generate(&cwd.join("team"), "P-256");
    let ci = Pki::generate(&cwd.join("ci"), "P-256");
    let eve = Pki::generate(&cwd.join("eve"), "P-256");
    for (who, pki) in [("team", &team), ("ci", &ci), ("eve", &eve)] {
        let sig = format!("{who}.sig");
        translate(cwd, &["sign", "key", "model", "--private_key", &pki.path("key.pem"), "--signature", &sig])
            .ok("sign");
    }
    // Repositories: `prod` signed by team and ci, `mixed` by eve then team (eve's newest),
    // `dev` by eve only, `lab` unsigned.
    let push = |repo: &str, sigs: &[&str]| {
        let r = format!("{}/{repo}/m:v1", reg.addr);
        oras(cwd, &["push", "model", &r]).ok("push");
        for s in sigs {
            oras(cwd, &["attach", &r, "--signature", s]).ok("attach");
        }
        r
    };
    let prod = push("prod", &["team.sig", "ci.sig"]);
    let mixed = push("mixed", &["team.sig", "eve.sig"]);
    let dev = push("dev", &["eve.sig"]);
    let lab = push("lab", &[]);
    std::fs::create_dir_all(cwd.join("policy/keys")).unwrap_or_else(|e| panic!("{e}"));
    for (who, pki) in [("team", &team), ("ci", &ci)] {
        std::fs::copy(pki.path("key.pub"), cwd.join(format!("policy/keys/{who}.pub")))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let a = &reg.addr;
    write(
        &cwd.join("policy/policy.toml"),
        &format!(
            r#"
[[rule]]
match = "{a}/prod/**"
mode = "enforce"
require = "all"
signers = [{{ public_key = "keys/team.pub" }}, {{ public_key = "keys/ci.pub" }}]

[[rule]]
match = "{a}/mixed/**"
mode = "enforce"
signers = [{{ public_key = "keys/team.pub" }}]

[[rule]]
match = "{a}/dev/**"
mode = "warn"
signers = [{{ public_key = "keys/team.pub" }}]

[[rule]]
match = "{a}/lab/**"
mode = "off"
"#
        ),
    );
    let policy = cwd.join("policy/policy.toml");
    let pol = policy.display().to_string();

    // enforce + require all: both signers signed prod.
    let v = oras_env(cwd, &[], &["verify", &prod, "--policy", &pol, "--output", "json"]);
    v.ok("prod verifies");
    let j: serde_json::Value = serde_json::from_str(&v.stdout).unwrap_or_default();
    assert_eq!(j["verified"], true);
    assert_eq!(j["policy"]["match"], format!("{a}/prod/**"));
    assert_eq!(
        j["policy"]["signers"],
        serde_json::json!(["public_key keys/team.pub", "public_key keys/ci.pub"])
    );
    // An untrusted signature next to a trusted one: the trusted one wins.
    oras_env(cwd, &[], &["verify", &mixed, "--policy", &pol]).ok("mixed: team's signature counts");
    let p = oras_env(cwd, &[], &["pull", &mixed, "-o", "out-mixed", "--policy", &pol]);
    p.ok("pull mixed");
    assert!(p.stdout.contains("public_key keys/team.pub"), "{}", p.stdout);
    // enforce: a rule for one repository does not apply to another; dev under `require all`
    // style enforcement would fail: check with a policy where dev is enforced.
    let other = cwd.join("policy/enforce-dev.toml");
    write(
        &other,
        &format!(
            "[[rule]]\nmatch = \"{a}/dev/**\"\nmode = \"enforce\"\nsigners = [{{ public_key = \"keys/team.pub\" }}]\n"
        ),
    );
    let v = oras_env(cwd, &[], &["verify", &dev, "--policy", &other.display().to_string()]);
    v.expect_code(1, "dev is not signed by team");
    assert!(v.stderr.contains("not signed as policy rule"), "{}", v.stderr);
    let p =
        oras_env(cwd, &[], &["pull", &dev, "-o", "out-refused", "--policy", &other.display().to_string()]);
    p.expect_code(1, "refused pull");
    assert_eq!(files_in(&cwd.join("out-refused")), 0, "a refused pull left files behind");
    let v = oras_env(cwd, &[], &["verify", &prod, "--policy", &other.display().to_string()]);
    v.expect_code(2, "no rule for prod in this policy");
    assert!(v.stderr.contains("no policy rule matches"), "{}", v.stderr);

    // warn: a warning naming the reason, exit 0, and the pull goes on (digests checked).
    let v = oras_env(cwd, &[], &["verify", &dev, "--policy", &pol]);
    v.ok("warn mode exits 0");
    assert!(v.stderr.contains("warning: policy rule") && v.stderr.contains("key mismatch"), "{}", v.stderr);
    let p = oras_env(cwd, &[], &["pull", &dev, "-o", "out-dev", "--policy", &pol]);
    p.ok("warn pull");
    assert!(p.stderr.contains("warning: policy rule"), "{}", p.stderr);
    assert!(files_in(&cwd.join("out-dev")) > 0);
    // off: no check.
    oras_env(cwd, &[], &["verify", &lab, "--policy", &pol]).ok("off");
    oras_env(cwd, &[], &["pull", &lab, "-o", "out-lab", "--policy", &pol]).ok("off pull");
    // Unchecked pulls still check every blob: a corrupted tar layer leaves none of its files.
    let lab_tar = format!("{}/lab/tar:v1", reg.addr);
    oras(cwd, &["push", "model", &lab_tar, "--layer-format", "tar-dirs"]).ok("push tar-dirs");
    let m = modelsig_e2e::registry::get_manifest(&reg.addr, "lab/tar", "v1");
    let layer = m["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["annotations"]["org.cncf.model.filepath"] == "a")
        .and_then(|l| l["digest"].as_str().map(str::to_owned))
        .unwrap_or_default();
    // Inside weights.bin's data (300 kB of the layer's ~305 kB), so the headers still parse.
    let blob = reg.blob_file(&layer);
    let len = std::fs::metadata(&blob).map(|m| m.len()).unwrap_or_default();
    modelsig_e2e::flip_byte(&blob, usize::try_from(len / 2).unwrap_or_default());
    let p = oras_env(cwd, &[], &["pull", &lab_tar, "-o", "out-lab-tar", "--policy", &pol]);
    p.expect_code(1, "corrupted tar layer, policy off");
    assert!(p.stderr.contains("does not match its digest"), "{}", p.stderr);
    for f in ["a/b", "a/c/d/weights.bin"] {
        assert!(!cwd.join("out-lab-tar").join(f).exists(), "{f} of a corrupted layer was placed");
    }

    // modelsig-translate verify registry:/oci: and cosign-modelsig verify-attestation follow
    // the same policy when given no trust flags.
    let t_env = |args: &[&str]| {
        let mut c = Command::new(bin("modelsig-translate"));
        c.args(args).current_dir(cwd).env_remove("MODELSIG_POLICY");
        run(&mut c)
    };
    let reg_mixed = format!("registry:{mixed}");
    t_env(&["verify", &reg_mixed, "--signature", "team.sig", "--policy", &pol])
        .ok("translate verify under policy");
    let v = t_env(&["verify", &reg_mixed, "--signature", "eve.sig", "--policy", &pol]);
    v.expect_code(1, "eve's signature does not satisfy the mixed rule");
    write(
        &cwd.join("policy/oci.toml"),
        "[[rule]]\nmatch = \"oci:**\"\nmode = \"enforce\"\nsigners = [{ public_key = \"keys/team.pub\" }]\n",
    );
    translate(cwd, &["pack", "model", "-o", "oci:lay:v1", "--signature", "team.sig"])
        .ok("pack with attached signature");
    let oci_pol = cwd.join("policy/oci.toml").display().to_string();
    let v = t_env(&["verify", "oci:lay:v1", "--policy", &oci_pol]);
    v.ok("oci: source under policy");
    assert!(v.stdout.contains("rule `oci:**`") && v.stdout.contains("keys/team.pub"), "{}", v.stdout);
    let c = |args: &[&str]| {
        let mut c = Command::new(bin("cosign-modelsig"));
        c.args(args).current_dir(cwd).env_remove("MODELSIG_POLICY");
        run(&mut c)
    };
    c(&["attest", &mixed, "--private_key", &team.path("key.pem"), "--tlog-upload=false"]).ok("attest mixed");
    let v =
        c(&["verify-attestation", &mixed, "--policy", &pol, "--insecure-ignore-tlog", "--output", "json"]);
    v.ok("verify-attestation under policy");
    let j: serde_json::Value = serde_json::from_str(&v.stdout).unwrap_or_default();
    assert_eq!(j["policy"]["signers"], serde_json::json!(["public_key keys/team.pub"]), "{j}");

    // require = "all" with only one of the two signers: refused, naming the missing one.
    let all = cwd.join("policy/all.toml");
    write(
        &all,
        &format!(
            "[[rule]]\nmatch = \"{a}/mixed/**\"\nmode = \"enforce\"\nrequire = \"all\"\nsigners = [{{ public_key = \"keys/team.pub\" }}, {{ public_key = \"keys/ci.pub\" }}]\n"
        ),
    );
    let all = all.display().to_string();
    let v = oras_env(cwd, &[], &["verify", &mixed, "--policy", &all]);
    v.expect_code(1, "ci never signed mixed");
    assert!(v.stderr.contains("keys/ci.pub"), "{}", v.stderr);
    assert!(!v.stdout.contains("verified"), "{}", v.stdout);
    let p = oras_env(cwd, &[], &["pull", &mixed, "-o", "out-all", "--policy", &all]);
    p.expect_code(1, "pull under require all");
    assert_eq!(files_in(&cwd.join("out-all")), 0, "a refused pull left files behind");

    // discover --verify: each attachment with who signed it, under the repository's rule.
    let d = oras_env(cwd, &[], &["discover", &mixed, "--verify", "--policy", &pol, "--format", "json"]);
    d.ok("discover --verify mixed");
    let j: serde_json::Value = serde_json::from_str(&d.stdout).unwrap_or_default();
    assert_eq!(j["satisfied"], true, "{j}");
    let attached = j["attached"].as_array().cloned().unwrap_or_default();
    // Two model signatures plus the cosign attestation made above.
    assert_eq!(attached.len(), 3, "{j}");
    let by_team = attached.iter().filter(|a| a["verified_by"] == "public_key keys/team.pub").count();
    assert_eq!(by_team, 2, "team's signature and attestation: {j}");
    let eve_sig = attached.iter().filter(|a| a["problem"].is_string()).collect::<Vec<_>>();
    assert_eq!(eve_sig.len(), 1, "{j}");
    assert!(eve_sig[0]["signer"].is_null(), "{j}");
    assert!(attached.iter().any(|a| a["predicate_type"] == "https://model_signing/signature/v1.0"), "{j}");
    let d = oras_env(cwd, &[], &["discover", &mixed, "--verify", "--policy", &all]);
    d.expect_code(1, "discover under require all: ci's signature is missing");
    assert!(d.stdout.contains("policy NOT satisfied") && d.stdout.contains("NOT verified"), "{}", d.stdout);
    let d = oras_env(cwd, &[], &["discover", &lab, "--verify", "--policy", &pol]);
    d.ok("off rule: listed, not checked");
    assert!(d.stdout.contains("no signatures or attestations attached"), "{}", d.stdout);

    // Discovery: $MODELSIG_POLICY, then $XDG_CONFIG_HOME/modelsig/policy.toml.
    oras_env(cwd, &[("MODELSIG_POLICY", &policy)], &["verify", &prod]).ok("policy from $MODELSIG_POLICY");
    let xdg = cwd.join("xdg");
    std::fs::create_dir_all(xdg.join("modelsig")).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&policy).unwrap_or_default().replace("keys/", "../../policy/keys/");
    write(&xdg.join("modelsig/policy.toml"), &text);
    oras_env(cwd, &[("XDG_CONFIG_HOME", &xdg)], &["verify", &prod]).ok("policy from XDG_CONFIG_HOME");
    let none = oras_env(cwd, &[], &["verify", &prod]);
    none.expect_code(2, "no policy anywhere");
    assert!(none.stderr.contains("no trust flags and no policy file"), "{}", none.stderr);
}

#[test]
fn malformed_policies_are_refused_naming_file_rule_and_key() {
    let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let cwd = t.path();
    let pki = Pki::generate(&cwd.join("pki"), "P-256");
    let key = pki.path("key.pub");
    let cases = [
        (
            "unknown.toml",
            "[[rule]]\nmatch = \"r/**\"\nmode = \"enforce\"\nsignerz = []\n".to_owned(),
            "unknown field `signerz`",
        ),
        (
            "glob.toml",
            format!(
                "[[rule]]\nmatch = \"r/[x\"\nmode = \"enforce\"\nsigners = [{{ public_key = \"{key}\" }}]\n"
            ),
            "bad glob",
        ),
        (
            "missing.toml",
            "[[rule]]\nmatch = \"r/**\"\nmode = \"warn\"\nsigners = [{ public_key = \"nope.pub\" }]\n"
                .to_owned(),
            "rule 1 (match = \"r/**\"): signer 1",
        ),
        (
            "mode.toml",
            format!(
                "[[rule]]\nmatch = \"r/**\"\nmode = \"sometimes\"\nsigners = [{{ public_key = \"{key}\" }}]\n"
            ),
            "unknown variant `sometimes`",
        ),
        (
            "two.toml",
            format!(
                "[[rule]]\nmatch = \"r/**\"\nmode = \"enforce\"\nsigners = [{{ public_key = \"{key}\", identity = \"x\" }}]\n"
            ),
            "exactly one of",
        ),
        ("empty.toml", "[[rule]]\nmatch = \"r/**\"\nmode = \"enforce\"\n".to_owned(), "lists no signers"),
    ];
    for (file, text, expect) in cases {
        write(&cwd.join(file), &text);
        let r = oras(cwd, &["policy", "check", file]);
        r.expect_code(2, file);
        assert!(
            r.stderr.contains(file) && r.stderr.contains(expect),
            "{file}: expected `{expect}` in {}",
            r.stderr
        );
    }
    write(
        &cwd.join("good.toml"),
        &format!(
            "[[rule]]\nmatch = \"reg.example/models/**\"\nmode = \"enforce\"\nrequire = \"all\"\nsigners = [{{ public_key = \"{key}\" }}]\n"
        ),
    );
    let r = oras(cwd, &["policy", "check", "good.toml"]);
    r.ok("check good");
    assert!(
        r.stdout.contains("reg.example/models/** -> enforce, all of") && r.stdout.contains("public_key"),
        "{}",
        r.stdout
    );
}
