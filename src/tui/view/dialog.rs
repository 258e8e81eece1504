//! Confirmation dialog (reprocess re-analyses data: ask before doing it).

use super::{bordered, centered};
use crate::tui::app::{App, Confirm};
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

pub fn render(app: &App, confirm: &Confirm, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let Confirm::Reprocess { name, source, .. } = confirm;
    let lines = vec![
        Line::from("Re-analyse the newest raw data of"),
        Line::from(Span::styled(theme.text(name).into_owned(), theme.title())),
        Line::from(Span::styled(format!("({})", theme.text(source)), theme.dim())),
        Line::default(),
        Line::from(vec![
            Span::styled("[y]", theme.key()),
            Span::raw(" yes    "),
            Span::styled("[n]", theme.key()),
            Span::raw(" no"),
        ]),
    ];
    let rect = centered(area, 52, 7);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true })
            .block(bordered(&theme, " Reprocess? ")),
        rect,
    );
}
