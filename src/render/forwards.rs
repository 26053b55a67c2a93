//! `--forwards` for people: one line per forward, where it goes and who answers there.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::model::PortForward;
use crate::text::escape;

/// `tcp  *:8080  → 172.17.0.2:80  dnat  container web  1499/httpd  ip nat DOCKER #12`,
/// aligned in columns.
pub(crate) fn table(forwards: &[PortForward], out: &mut dyn Write) -> io::Result<()> {
    if forwards.is_empty() {
        return Ok(());
    }
    let header = ["PROTO", "HOST", "TO", "VIA", "WHERE", "PROCESS", "RULE"];
    let rows: Vec<[String; 7]> = forwards.iter().map(row).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 < cells.len() {
                let _ = write!(text, "{cell:<w$}  ");
            } else {
                text.push_str(cell);
            }
        }
        format!("{}\n", text.trim_end())
    };
    out.write_all(line(&header).as_bytes())?;
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        out.write_all(line(&cells).as_bytes())?;
    }
    Ok(())
}

fn row(f: &PortForward) -> [String; 7] {
    let host = match f.host_addr {
        Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{}", f.host_port),
        Some(ip) => format!("{ip}:{}", f.host_port),
        None => format!("*:{}", f.host_port),
    };
    let to = match f.forward.to_addr {
        Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{}", f.forward.to_port),
        Some(ip) => format!("{ip}:{}", f.forward.to_port),
        None => format!("(this host):{}", f.forward.to_port),
    };
    let place = f.forward.place.as_ref();
    let at = match (place.and_then(|p| p.container.as_deref()), place) {
        (Some(c), _) => format!("container {}", escape(c.name.as_deref().unwrap_or(&c.id))),
        (None, Some(p)) => match &p.netns.name {
            Some(name) => format!("netns {}", escape(name)),
            None => format!("netns {}", p.netns.inode),
        },
        (None, None) => "-".to_string(),
    };
    let processes: Vec<String> = f
        .forward
        .processes
        .iter()
        .map(|p| format!("{}/{}", p.pid, escape(&p.name)))
        .collect();
    let rule = match &f.rule {
        Some(r) => {
            let handle = r.handle.map_or(String::new(), |h| format!(" #{h}"));
            format!(
                "{} {} {}{handle}",
                r.family,
                escape(&r.table),
                escape(&r.chain)
            )
        }
        None => "-".to_string(),
    };
    [
        f.forward.proto.as_str().to_string(),
        host,
        to,
        f.forward.via.as_str().to_string(),
        at,
        if processes.is_empty() {
            "-".to_string()
        } else {
            processes.join(" ")
        },
        rule,
    ]
}
