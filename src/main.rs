fn main() {
    let root = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let needles = vec!["qontract_reconcile_image_tag".to_string(), "quay.io/app-sre/qontract-reconcile".to_string(), "https://github.com/app-sre/qontract-reconcile".to_string()];
    let out = qr_promote::scan::scan(std::path::Path::new(&root), &needles, std::env::var_os("C").as_deref().map(std::path::Path::new)).unwrap();
    println!("{} {}", out.yaml_files, out.files.len());
}
