//! The terminal's side of a run (`commands::Ui`): results on stdout as tables or JSON, warnings
//! and notes on stderr, the progress of slow steps, and the question before a destructive
//! apply.

use super::progress::Terminal;
use comfy_table::{presets, CellAlignment, ColumnConstraint, ContentArrangement, Width};
use futures::future::BoxFuture;
use gio_ami::commands::{Format, Ui};
use gio_ami::core::progress::Progress;
use gio_ami::core::show::{Draw, Show, Table};
use std::io::{self, IsTerminal, Write};

pub struct Console {
    pub format: Format,
    pub quiet: bool,
}

impl Ui for Console {
    fn progress(&self) -> Box<dyn Progress + Send> {
        Box::new(Terminal::new(self.quiet))
    }

    fn warn(&self, warnings: &[String]) {
        if !self.quiet {
            for warning in warnings {
                eprintln!("warning: {warning}");
            }
        }
    }

    fn note(&self, note: &str) {
        eprintln!("{note}");
    }

    fn show(&self, shown: &dyn Show) -> io::Result<()> {
        let mut out = io::stdout().lock();
        match self.format {
            Format::Json => {
                let json = shown.json()?;
                // A plan shown before its question has no JSON of its own: the report after
                // the apply carries it.
                if json.is_empty() {
                    return Ok(());
                }
                writeln!(out, "{json}")
            }
            Format::Table => out.write_all(shown.text(&Comfy).as_bytes()),
        }
    }

    fn drawing(&self) -> &dyn Draw {
        &Comfy
    }

    fn print(&self, bytes: &[u8]) -> io::Result<()> {
        io::stdout().lock().write_all(bytes)
    }

    fn can_ask(&self) -> bool {
        io::stdin().is_terminal()
    }

    /// The answer is read on a thread of its own, so the run still ends on a Ctrl-C at the
    /// question (`cli::run`); that thread is not waited for at exit, as a blocking task of
    /// Tokio's would be.
    fn confirm<'a>(&'a self, question: &'a str) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(async move {
            eprint!("{question}");
            let (sender, answer) = tokio::sync::oneshot::channel();
            std::thread::spawn(move || {
                let mut answer = String::new();
                let _ = sender.send(io::stdin().read_line(&mut answer).map(|_| answer));
            });
            let answer = answer.await.map_err(io::Error::other)??;
            Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
        })
    }
}

/// Columns that hold AWS ids (alone, or leading a name): never narrower than the longest id
/// (`snap-` and 17 hex digits) and the cell's padding, so an id is never broken across lines;
/// names wrap instead.
const ID_COLUMNS: [&str; 6] = ["AMI", "AMIS", "SNAPSHOT", "SNAPSHOTS", "RESOURCE", "FROM"];
const ID_WIDTH: u16 = 22 + 2;

/// Tables as wide as the terminal (or `COLUMNS`, as a script can ask for): cells wrap at words
/// to fit. Into a pipe with no `COLUMNS`, rows stay whole, one line each.
struct Comfy;

impl Draw for Comfy {
    fn table(&self, content: &Table) -> String {
        let mut table = comfy_table::Table::new();
        table
            .load_preset(presets::UTF8_HORIZONTAL_ONLY)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(content.header.clone());
        if let Some(width) = std::env::var("COLUMNS").ok().and_then(|c| c.parse::<u16>().ok()) {
            table.set_width(width);
        }
        for (n, name) in content.header.iter().enumerate() {
            if let (true, Some(column)) = (ID_COLUMNS.contains(&name.as_str()), table.column_mut(n)) {
                column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(ID_WIDTH)));
            }
        }
        for row in &content.rows {
            table.add_row(row.iter().map(|cell| {
                let drawn = comfy_table::Cell::new(&cell.text);
                match cell.number {
                    true => drawn.set_alignment(CellAlignment::Right),
                    false => drawn,
                }
            }));
        }
        table.to_string()
    }
}
