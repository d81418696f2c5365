//! `k3rs images import FILE...` and `k3rs images ls`: the node's image store from the command
//! line (the agent imports `<data-dir>/agent/images/` itself at start).

use anyhow::Context;
use k3rs_config::{DataDir, ImagesArgs, ImagesCommand};
use k3rs_images::Store;

pub fn run(args: &ImagesArgs, data_dir: &DataDir) -> anyhow::Result<()> {
    let store = Store::open(&data_dir.image_store_dir()).with_context(|| {
        format!("opening the image store {}", data_dir.image_store_dir().display())
    })?;
    match &args.command {
        ImagesCommand::Import { files } => {
            for file in files {
                let images = store.import(file)?;
                for image in images {
                    let names = if image.names.is_empty() {
                        "<none>".to_owned()
                    } else {
                        image.names.join(", ")
                    };
                    println!("imported {names} ({})", short(&image.id));
                }
            }
        }
        ImagesCommand::Ls => {
            println!("{:<60} {:<14} {:>10}", "IMAGE", "IMAGE ID", "SIZE");
            for image in store.list()? {
                let names = if image.names.is_empty() {
                    vec!["<none>".to_owned()]
                } else {
                    image.names.clone()
                };
                for name in names {
                    println!("{name:<60} {:<14} {:>10}", short(&image.id), size(image.size));
                }
            }
        }
    }
    Ok(())
}

/// The first 13 hex digits of an id, as `crictl images` shows them.
fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(13).collect()
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1}GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1}MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1}KiB", b as f64 / 1024.0),
        b => format!("{b}B"),
    }
}
