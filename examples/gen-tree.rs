//! `cargo run --release --example gen-tree -- DIR N`: writes a deterministic app-interface-shaped checkout of about N YAML
//! files (namespaces, saas files, users, integrations, Jenkins and Tekton resources, some five
//! kilobytes each on average), for benchmarks. The same N always gives the same bytes.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

/// A small linear congruential generator: deterministic across platforms.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn hex(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| char::from(b"0123456789abcdef"[self.below(16) as usize]))
            .collect()
    }
    fn word(&mut self) -> String {
        const W: [&str; 16] = [
            "alpha", "bravo", "cedar", "delta", "ember", "fjord", "gamma", "harbor", "iris",
            "juniper", "kelp", "lumen", "maple", "nova", "onyx", "prism",
        ];
        W[self.below(16) as usize].to_string()
    }
}

const CURRENT: &str = "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39";

fn write(root: &Path, rel: &str, text: &str) -> std::io::Result<()> {
    let p = root.join(rel);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(p, text)
}

/// Padding that real files carry: descriptions, labels, parameters.
fn filler(r: &mut Lcg, out: &mut String, lines: usize) {
    out.push_str("parameters:\n");
    for i in 0..lines {
        let _ = writeln!(
            out,
            "  {}_{i}: \"{} {} {}\"",
            r.word().to_uppercase(),
            r.word(),
            r.word(),
            r.hex(12)
        );
    }
}

fn generate(root: &Path, n: usize) -> std::io::Result<()> {
    let mut r = Lcg(0x5eed_0000 ^ n as u64);
    let short = &CURRENT[..7];
    write(
        root,
        ".env",
        &format!(
            "export RECONCILE_REPO=https://github.com/app-sre/qontract-reconcile\n\
export RECONCILE_IMAGE=quay.io/app-sre/qontract-reconcile\nexport RECONCILE_IMAGE_TAG={short}\n\n\
export SCHEMAS_REPO=https://github.com/app-sre/qontract-schemas\n\
export SCHEMAS_IMAGE=quay.io/app-sre/qontract-schemas\nexport SCHEMAS_IMAGE_TAG=1a2b3c4\n"
        ),
    )?;
    write(
        root,
        "resources/jenkins/global/defaults.yaml",
        &format!("- defaults:\n    <<: *local_defaults\n    name: global\n    qontract_reconcile_image_tag: '{short}'\n"),
    )?;
    write(
        root,
        "data/pipelines/tekton-provider-global-defaults.yaml",
        &format!("---\n$schema: /app-sre/tekton-provider-defaults-1.yml\nname: defaults\ntaskTemplates:\n- name: deploy\n  variables:\n    qontract_reconcile_image_tag: {short}\n"),
    )?;
    let mut made = 3;
    let mut i = 0usize;
    while made < n {
        let svc = format!("svc-{:04}", i / 40);
        let kind = i % 40;
        let (rel, mut text) = match kind {
            0..=19 => (
                format!("data/services/{svc}/namespaces/ns-{i:06}.yml"),
                format!(
                    "---\n$schema: /openshift/namespace-1.yml\n\nlabels: {{}}\n\nname: ns-{i}\ndescription: {} {}\n\ncluster:\n  $ref: /openshift/cluster-{}/cluster.yml\n\nenvironment:\n  $ref: /products/p/environments/{}.yml\n",
                    r.word(),
                    r.word(),
                    r.below(50),
                    if r.below(2) == 0 { "production" } else { "stage" }
                ),
            ),
            20..=29 => (
                format!("data/teams/{svc}/users/user-{i:06}.yml"),
                format!(
                    "---\n$schema: /access/user-1.yml\n\nlabels: {{}}\n\nname: {} {}\norg_username: u{i}\ngithub_username: gh{i}\nroles:\n- $ref: /teams/{svc}/roles/dev.yml\n",
                    r.word(),
                    r.word()
                ),
            ),
            30..=37 => {
                let url = if i % 400 == 37 {
                    "https://github.com/app-sre/qontract-reconcile".to_string()
                } else {
                    format!("https://github.com/example/{}", r.word())
                };
                let mut t = format!(
                    "---\n$schema: /app-sre/saas-file-2.yml\n\nname: saas-{i}\napp:\n  $ref: /services/{svc}/app.yml\nresourceTemplates:\n- name: {}\n  url: {url}\n  path: /openshift/template.yaml\n  targets:\n",
                    r.word()
                );
                for t_i in 0..3 {
                    let reference = if t_i == 0 { "master".to_string() } else if i % 400 == 37 && t_i == 1 { CURRENT.to_string() } else { r.hex(40) };
                    let _ = write!(t, "  - namespace:\n      $ref: /services/{svc}/namespaces/ns-{:06}.yml\n    ref: {reference}\n", i - kind + t_i);
                }
                (format!("data/services/{svc}/cicd/saas-{i:06}.yaml"), t)
            }
            38 => (
                format!("resources/{svc}/deploy-{i:06}.yaml"),
                format!(
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{{{ name }}}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: main\n        image: quay.io/example/{}:{{{{ tag }}}}\n{{% if sidecar %}}\n      - name: sidecar\n        image: quay.io/example/side:{}\n{{% endif %}}\n",
                    r.word(),
                    r.hex(7)
                ),
            ),
            _ => (
                format!("data/integrations/int-{i:06}.yml"),
                format!(
                    "---\n$schema: /app-sre/integration-1.yml\n\nname: int-{i}\nmanaged:\n- namespace:\n    $ref: /services/{svc}/namespaces/ns-{:06}.yml\n  spec:\n    cache: {}\n  sharding:\n    strategy: static\n    shards: {}\n",
                    i - kind,
                    r.below(2) == 0,
                    1 + r.below(4)
                ),
            ),
        };
        let pad = 40 + r.below(90) as usize;
        filler(&mut r, &mut text, pad);
        write(root, &rel, &text)?;
        made += 1;
        i += 1;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(n)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: gen-tree DIR N");
        return ExitCode::from(2);
    };
    match generate(Path::new(dir), n) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {dir}: {e}");
            ExitCode::from(1)
        }
    }
}
