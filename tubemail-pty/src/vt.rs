//! A compact terminal model driven by the `vte` parser: what [`Screen`]
//! keeps of the terminal.
//!
//! Cells are 16-byte values (a character, its pen, wide flags) in one
//! vector per row; combining marks, rare, live beside the row. The rules
//! follow the `vt100` crate's model (wrapping, wide characters, scroll
//! regions, erasing with the current colours, per-screen cursors), which the
//! property tests compare it against; it also knows `CSI s`/`CSI u`, `ESC D`
//! (IND) and `ESC E` (NEL). Output it has no use for (OSC, DCS, charset
//! designations, reports) is parsed and ignored.
//!
//! [`Screen`]: crate::Screen

use std::fmt::Write as _;

use unicode_width::UnicodeWidthChar as _;

/// Cell flag: the first half of a two-column character.
const WIDE: u8 = 1;
/// Cell flag: the second half of a two-column character.
const CONT: u8 = 2;

const BOLD: u8 = 1;
const DIM: u8 = 2;
const ITALIC: u8 = 4;
const UNDERLINE: u8 = 8;
const INVERSE: u8 = 16;

/// Colour encoding: 0 is the default, `IDX | n` a palette index, `RGB |
/// 0xRRGGBB` a true colour.
const IDX: u32 = 1 << 24;
const RGB: u32 = 2 << 24;

/// Longest combined cell (base plus marks), in UTF-8 bytes, as in vt100.
const MAX_CELL_BYTES: usize = 18;

/// Colours and attributes of what is drawn.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Pen {
    fg: u32,
    bg: u32,
    attrs: u8,
}

impl Pen {
    const DEFAULT: Pen = Pen {
        fg: 0,
        bg: 0,
        attrs: 0,
    };

    /// `CSI … m` that sets exactly this pen from any other.
    fn write_sgr(self, out: &mut Vec<u8>) {
        let mut s = String::from("\x1b[0");
        for (bit, code) in [
            (BOLD, 1),
            (DIM, 2),
            (ITALIC, 3),
            (UNDERLINE, 4),
            (INVERSE, 7),
        ] {
            if self.attrs & bit != 0 {
                let _ = write!(s, ";{code}");
            }
        }
        write_color(&mut s, self.fg, 30, 90, 38);
        write_color(&mut s, self.bg, 40, 100, 48);
        s.push('m');
        out.extend_from_slice(s.as_bytes());
    }
}

fn write_color(s: &mut String, color: u32, base: u32, bright: u32, ext: u32) {
    let value = color & 0xff_ffff;
    match color & !0xff_ffff {
        IDX if value < 8 => {
            let _ = write!(s, ";{}", base + value);
        }
        IDX if value < 16 => {
            let _ = write!(s, ";{}", bright + value - 8);
        }
        IDX => {
            let _ = write!(s, ";{ext};5;{value}");
        }
        RGB => {
            let _ = write!(
                s,
                ";{ext};2;{};{};{}",
                value >> 16,
                (value >> 8) & 0xff,
                value & 0xff
            );
        }
        _ => {}
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Cell {
    /// `'\0'` for an empty cell.
    ch: char,
    flags: u8,
    pen: Pen,
}

const BLANK: Cell = Cell {
    ch: '\0',
    flags: 0,
    pen: Pen::DEFAULT,
};

impl Cell {
    fn empty(pen: Pen) -> Cell {
        Cell {
            ch: '\0',
            flags: 0,
            pen,
        }
    }

    fn has_contents(self) -> bool {
        self.ch != '\0'
    }

    fn wide(self) -> bool {
        self.flags & WIDE != 0
    }

    fn cont(self) -> bool {
        self.flags & CONT != 0
    }
}

#[derive(Clone, Debug)]
struct Row {
    cells: Vec<Cell>,
    /// The text goes on in the next row (the terminal wrapped it there).
    wrapped: bool,
    /// Combining marks after the character in a column.
    extras: Vec<(u16, String)>,
}

impl Row {
    fn new(cols: u16) -> Row {
        Row {
            cells: vec![BLANK; usize::from(cols)],
            wrapped: false,
            extras: Vec::new(),
        }
    }

    fn cols(&self) -> u16 {
        u16::try_from(self.cells.len()).unwrap_or(u16::MAX)
    }

    fn reset(&mut self) {
        self.cells.fill(BLANK);
        self.wrapped = false;
        self.extras.clear();
    }

    fn clear(&mut self, pen: Pen) {
        self.cells.fill(Cell::empty(pen));
        self.wrapped = false;
        self.extras.clear();
    }

    fn extra(&self, col: u16) -> Option<&str> {
        if self.extras.is_empty() {
            return None;
        }
        self.extras
            .iter()
            .find(|(c, _)| *c == col)
            .map(|(_, s)| s.as_str())
    }

    fn drop_extra(&mut self, col: u16) {
        if !self.extras.is_empty() {
            self.extras.retain(|(c, _)| *c != col);
        }
    }

    fn set(&mut self, col: u16, cell: Cell) {
        self.cells[usize::from(col)] = cell;
        self.drop_extra(col);
    }

    /// Empties a cell, keeping its pen.
    fn clear_keep(&mut self, col: u16) {
        let pen = self.cells[usize::from(col)].pen;
        self.set(col, Cell::empty(pen));
    }

    /// Clears the other half of a wide character at `col`.
    fn clear_wide(&mut self, col: u16) {
        let cell = self.cells[usize::from(col)];
        if cell.wide() {
            if col + 1 >= self.cols() {
                self.clear_keep(col);
                return;
            }
            self.clear_keep(col + 1);
        } else if cell.cont() && col > 0 {
            self.clear_keep(col - 1);
        }
    }

    fn erase(&mut self, col: u16, pen: Pen) {
        let wide = self.cells[usize::from(col)].wide();
        self.clear_wide(col);
        self.set(col, Cell::empty(pen));
        if col == self.cols().saturating_sub(if wide { 2 } else { 1 }) {
            self.wrapped = false;
        }
    }

    /// Inserts `count` blank cells at `i`; cells pushed past the end drop.
    fn insert(&mut self, i: u16, count: u16) {
        let len = self.cells.len();
        let i_us = usize::from(i);
        let count = usize::from(count).min(len.saturating_sub(i_us));
        if count == 0 {
            self.wrapped = false;
            return;
        }
        let was_cont = self.cells[i_us].cont();
        if was_cont {
            self.cells[i_us].flags &= !CONT;
        }
        let slice = &mut self.cells[i_us..];
        slice.rotate_right(count);
        slice[..count].fill(BLANK);
        if was_cont {
            self.cells[i_us].flags |= CONT;
        }
        if !self.extras.is_empty() {
            let shift = u16::try_from(count).unwrap_or(u16::MAX);
            let cols = self.cols();
            self.extras.retain_mut(|(c, _)| {
                if *c >= i {
                    *c = c.saturating_add(shift);
                }
                *c < cols
            });
        }
        self.set_truncated();
    }

    /// Removes cells `start..end`; blank cells fill in at the end.
    fn remove(&mut self, start: u16, end: u16) {
        self.wrapped = false;
        if start >= end {
            return;
        }
        self.clear_wide(start);
        if end - 1 != start {
            self.clear_wide(end - 1);
        }
        if !self.extras.is_empty() {
            let count = end - start;
            self.extras.retain_mut(|(c, _)| {
                if *c >= end {
                    *c -= count;
                    true
                } else {
                    *c < start
                }
            });
        }
        let count = usize::from(end - start);
        let slice = &mut self.cells[usize::from(start)..];
        slice[..count].fill(BLANK);
        slice.rotate_left(count);
    }

    fn set_truncated(&mut self) {
        self.wrapped = false;
        if let Some(last) = self.cells.last().copied()
            && last.wide()
        {
            let col = self.cols() - 1;
            self.set(col, Cell::empty(last.pen));
        }
    }

    fn resize(&mut self, cols: u16) {
        let len = usize::from(cols);
        match len.cmp(&self.cells.len()) {
            std::cmp::Ordering::Equal => {}
            std::cmp::Ordering::Less => {
                self.cells.truncate(len);
                self.extras.retain(|(c, _)| *c < cols);
                self.set_truncated();
            }
            std::cmp::Ordering::Greater => {
                self.cells.resize(len, BLANK);
                self.wrapped = false;
            }
        }
    }

    /// The row's text as vt100 reads it: empty cells before a character
    /// are blanks, after the last one nothing.
    fn write_text(&self, out: &mut String) {
        let mut prev_col = 0usize;
        let mut skip = false;
        for (col, cell) in self.cells.iter().enumerate() {
            if skip {
                skip = false;
                continue;
            }
            skip = cell.wide();
            if cell.has_contents() {
                out.extend(std::iter::repeat_n(' ', col - prev_col));
                out.push(cell.ch);
                if let Some(extra) = u16::try_from(col).ok().and_then(|c| self.extra(c)) {
                    out.push_str(extra);
                }
                prev_col = col + if cell.wide() { 2 } else { 1 };
            }
        }
    }
}

/// One screen (main or alternate): its rows, cursor and scroll region.
#[derive(Clone, Debug)]
struct Grid {
    rows: Vec<Row>,
    nrows: u16,
    ncols: u16,
    row: u16,
    /// `ncols` after a character was drawn in the last column: the next
    /// one wraps.
    col: u16,
    saved: (u16, u16),
    saved_origin: bool,
    top: u16,
    bottom: u16,
    origin: bool,
    /// Rows scrolled off the top since the last clear of the scrollback
    /// (the main screen only, `None` on the alternate one): growing the
    /// screen brings back as many (blank) rows above, so the text stays at
    /// the bottom as it does in a terminal with scrollback.
    scrolled_off: Option<usize>,
}

impl Grid {
    fn new(rows: u16, cols: u16, main: bool) -> Grid {
        Grid {
            rows: (0..rows).map(|_| Row::new(cols)).collect(),
            nrows: rows,
            ncols: cols,
            row: 0,
            col: 0,
            saved: (0, 0),
            saved_origin: false,
            top: 0,
            bottom: rows - 1,
            origin: false,
            scrolled_off: main.then_some(0),
        }
    }

    fn clear(&mut self) {
        self.row = 0;
        self.col = 0;
        self.saved = (0, 0);
        self.saved_origin = false;
        for row in &mut self.rows {
            row.reset();
        }
        self.top = 0;
        self.bottom = self.nrows - 1;
        self.origin = false;
    }

    fn cur(&mut self) -> &mut Row {
        &mut self.rows[usize::from(self.row)]
    }

    fn in_region(&self) -> bool {
        self.row >= self.top && self.row <= self.bottom
    }

    fn clamp_top(&mut self, limit: bool) -> u16 {
        if limit && self.row < self.top {
            let n = self.top - self.row;
            self.row = self.top;
            n
        } else {
            0
        }
    }

    fn clamp_bottom(&mut self, limit: bool) -> u16 {
        let bottom = if limit { self.bottom } else { self.nrows - 1 };
        if self.row > bottom {
            let n = self.row - bottom;
            self.row = bottom;
            n
        } else {
            0
        }
    }

    fn clamp_col(&mut self) {
        self.col = self.col.min(self.ncols - 1);
    }

    fn set_pos(&mut self, mut row: u16, col: u16) {
        if self.origin {
            row = row.saturating_add(self.top);
        }
        self.row = row;
        self.col = col;
        self.clamp_top(self.origin);
        self.clamp_bottom(self.origin);
        self.clamp_col();
    }

    fn save(&mut self) {
        self.saved = (self.row, self.col);
        self.saved_origin = self.origin;
    }

    fn restore(&mut self) {
        (self.row, self.col) = self.saved;
        self.origin = self.saved_origin;
    }

    fn scroll_up(&mut self, count: u16) {
        let between = &mut self.rows[usize::from(self.top)..=usize::from(self.bottom)];
        let n = usize::from(count).min(between.len());
        if self.top == 0
            && let Some(off) = &mut self.scrolled_off
        {
            *off = off.saturating_add(n);
        }
        for row in &mut between[..n] {
            row.reset();
        }
        between.rotate_left(n);
    }

    fn scroll_down(&mut self, count: u16) {
        if count == 0 {
            return;
        }
        let between = &mut self.rows[usize::from(self.top)..=usize::from(self.bottom)];
        let n = usize::from(count).min(between.len());
        between.rotate_right(n);
        for row in &mut between[..n] {
            row.reset();
        }
        self.rows[usize::from(self.bottom)].wrapped = false;
    }

    fn row_inc_scroll(&mut self, count: u16) -> u16 {
        let in_region = self.in_region();
        self.row = self.row.saturating_add(count);
        let lines = self.clamp_bottom(in_region);
        if in_region {
            self.scroll_up(lines);
            lines
        } else {
            0
        }
    }

    fn row_dec_scroll(&mut self, count: u16) {
        let in_region = self.in_region();
        let extra = count.saturating_sub(self.row);
        self.row = self.row.saturating_sub(count);
        let lines = self.clamp_top(in_region);
        self.scroll_down(lines + extra);
    }

    fn row_inc_clamp(&mut self, count: u16) {
        let in_region = self.in_region();
        self.row = self.row.saturating_add(count);
        self.clamp_bottom(in_region);
    }

    fn row_dec_clamp(&mut self, count: u16) {
        let in_region = self.in_region();
        self.row = self.row.saturating_sub(count);
        self.clamp_top(in_region);
    }

    /// Moves to the next row before drawing `width` columns that do not
    /// fit; `wrap` marks the row left as continued.
    fn col_wrap(&mut self, width: u16, wrap: bool) {
        if self.col <= self.ncols - width {
            return;
        }
        let prev_row = self.row;
        self.col = 0;
        let scrolled = self.row_inc_scroll(1);
        if prev_row == 0 && scrolled > 0 {
            return;
        }
        let prev_row = prev_row - scrolled;
        let continued = wrap && prev_row + 1 == self.row;
        self.rows[usize::from(prev_row)].wrapped = continued;
    }

    fn set_scroll_region(&mut self, top: u16, bottom: u16) {
        let bottom = bottom.min(self.nrows - 1);
        if top < bottom {
            self.top = top;
            self.bottom = bottom;
        } else {
            self.top = 0;
            self.bottom = self.nrows - 1;
        }
        self.row = self.top;
        self.col = 0;
    }

    fn set_size(&mut self, rows: u16, cols: u16) {
        if rows == self.nrows && cols == self.ncols {
            return;
        }
        self.top = 0;
        self.bottom = self.nrows - 1;
        let diff = self.nrows.abs_diff(rows);
        let pos_diff = if rows < self.nrows {
            let below = self.nrows - self.row - 1;
            let pushed = diff.saturating_sub(below);
            self.scroll_up(pushed);
            self.rows.truncate(usize::from(rows));
            pushed
        } else {
            let pulled = self
                .scrolled_off
                .map_or(0, |off| u16::try_from(off).unwrap_or(u16::MAX).min(diff));
            if let Some(off) = &mut self.scrolled_off {
                *off -= usize::from(pulled);
            }
            self.rows.splice(0..0, (0..pulled).map(|_| Row::new(cols)));
            self.rows.resize_with(usize::from(rows), || Row::new(cols));
            pulled
        };
        if let Some(last) = self.rows.last_mut() {
            last.wrapped = false;
        }
        for row in &mut self.rows {
            row.resize(cols);
        }
        if rows < self.nrows {
            self.row = self.row.saturating_sub(pos_diff);
            self.saved.0 = self.saved.0.saturating_sub(pos_diff).min(rows - 1);
        } else {
            self.row += pos_diff;
            self.saved.0 += pos_diff;
        }
        self.col = self.col.min(cols - 1);
        self.saved.1 = self.saved.1.min(cols - 1);
        self.nrows = rows;
        self.ncols = cols;
        self.bottom = rows - 1;
    }
}

const MODE_APP_CURSOR: u8 = 1;
const MODE_HIDE_CURSOR: u8 = 2;
const MODE_BRACKETED_PASTE: u8 = 4;
const MODE_APP_KEYPAD: u8 = 8;

/// The terminal: both screens, the pen, modes.
#[derive(Clone, Debug)]
pub(crate) struct Term {
    grids: [Grid; 2],
    alt: bool,
    pen: Pen,
    saved_pen: Pen,
    modes: u8,
    /// 0, 9, 1000, 1002 or 1003.
    mouse_mode: u16,
    /// 0, 1005 or 1006.
    mouse_encoding: u16,
    last_char: Option<char>,
}

impl Term {
    /// A blank terminal; `rows` and `cols` are not zero.
    pub(crate) fn new(rows: u16, cols: u16) -> Term {
        Term {
            grids: [Grid::new(rows, cols, true), Grid::new(rows, cols, false)],
            alt: false,
            pen: Pen::DEFAULT,
            saved_pen: Pen::DEFAULT,
            modes: 0,
            mouse_mode: 0,
            mouse_encoding: 0,
            last_char: None,
        }
    }

    fn grid(&self) -> &Grid {
        &self.grids[usize::from(self.alt)]
    }

    fn grid_mut(&mut self) -> &mut Grid {
        &mut self.grids[usize::from(self.alt)]
    }

    /// (rows, cols).
    pub(crate) fn size(&self) -> (u16, u16) {
        (self.grids[0].nrows, self.grids[0].ncols)
    }

    /// Follows a resize; both sizes are not zero.
    pub(crate) fn resize(&mut self, rows: u16, cols: u16) {
        for grid in &mut self.grids {
            grid.set_size(rows, cols);
        }
    }

    #[cfg(test)]
    pub(crate) fn alternate_screen(&self) -> bool {
        self.alt
    }

    #[cfg(test)]
    pub(crate) fn bracketed_paste(&self) -> bool {
        self.modes & MODE_BRACKETED_PASTE != 0
    }

    #[cfg(test)]
    pub(crate) fn cursor(&self) -> (u16, u16) {
        (self.grid().row, self.grid().col)
    }

    #[cfg(test)]
    pub(crate) fn modes(&self) -> (u8, u16, u16) {
        (self.modes, self.mouse_mode, self.mouse_encoding)
    }

    /// Visible rows as text, each with whether it continues in the next.
    pub(crate) fn rows(&self) -> impl Iterator<Item = (String, bool)> + '_ {
        self.grid().rows.iter().map(|row| {
            let mut s = String::new();
            row.write_text(&mut s);
            (s, row.wrapped)
        })
    }

    #[inline(never)]
    fn draw(&mut self, c: char) {
        if c == '\u{fffd}' || ('\u{80}'..'\u{a0}').contains(&c) {
            return;
        }
        let width: u16 = if (' '..'\u{7f}').contains(&c) {
            1
        } else {
            match c.width() {
                None if u32::from(c) < 256 => return,
                w => u16::try_from(w.unwrap_or(1).min(2)).unwrap_or(1),
            }
        };
        let pen = self.pen;
        let g = &mut self.grids[usize::from(self.alt)];
        let cols = g.ncols;
        if width > cols {
            return;
        }
        if width == 0 {
            if g.col == 0 {
                return;
            }
            combine(g, c);
            return;
        }
        let wrap = u32::from(g.col) + u32::from(width) > u32::from(cols) && {
            let last = g.rows[usize::from(g.row)].cells[usize::from(cols - 1)];
            last.has_contents() || last.cont()
        };
        g.col_wrap(width, wrap);
        let col = g.col;
        let row = &mut g.rows[usize::from(g.row)];
        let was_wide = row.cells[usize::from(col)].wide();
        let is_wide = width == 2;
        row.set(
            col,
            Cell {
                ch: c,
                flags: if is_wide { WIDE } else { 0 },
                pen,
            },
        );
        g.col += width;
        cleanup(row, col, was_wide, is_wide, pen);
        self.last_char = Some(c);
    }

    fn save_cursor(&mut self) {
        self.grid_mut().save();
        self.saved_pen = self.pen;
    }

    fn restore_cursor(&mut self) {
        self.grid_mut().restore();
        self.pen = self.saved_pen;
    }

    fn set_mode(&mut self, on: bool, param: &[u16]) {
        let bit = |t: &mut Term, b: u8| {
            if on {
                t.modes |= b;
            } else {
                t.modes &= !b;
            }
        };
        match param {
            [1] => bit(self, MODE_APP_CURSOR),
            [6] => {
                let g = self.grid_mut();
                g.origin = on;
                g.set_pos(0, 0);
            }
            [25] => {
                if on {
                    self.modes &= !MODE_HIDE_CURSOR;
                } else {
                    self.modes |= MODE_HIDE_CURSOR;
                }
            }
            [47] => self.alt = on,
            [m @ (9 | 1000 | 1002 | 1003)] => {
                if on {
                    self.mouse_mode = *m;
                } else if self.mouse_mode == *m {
                    self.mouse_mode = 0;
                }
            }
            [m @ (1005 | 1006)] => {
                if on {
                    self.mouse_encoding = *m;
                } else if self.mouse_encoding == *m {
                    self.mouse_encoding = 0;
                }
            }
            [1049] => {
                if on {
                    self.save_cursor();
                    self.grids[1].clear();
                    self.alt = true;
                } else {
                    self.alt = false;
                    self.restore_cursor();
                }
            }
            [2004] => bit(self, MODE_BRACKETED_PASTE),
            _ => {}
        }
    }

    fn sgr(&mut self, params: &vte::Params) {
        if params.is_empty() {
            self.pen = Pen::DEFAULT;
            return;
        }
        let mut it = params.iter();
        let u8_of = |n: u16| u8::try_from(n).ok();
        let next_u8 = |it: &mut vte::ParamsIter<'_>| match it.next() {
            Some(&[n]) => u8_of(n),
            _ => None,
        };
        let pen = &mut self.pen;
        while let Some(p) = it.next() {
            match p {
                [0] => *pen = Pen::DEFAULT,
                [1] => pen.attrs = (pen.attrs & !DIM) | BOLD,
                [2] => pen.attrs = (pen.attrs & !BOLD) | DIM,
                [3] => pen.attrs |= ITALIC,
                [4] => pen.attrs |= UNDERLINE,
                [7] => pen.attrs |= INVERSE,
                [22] => pen.attrs &= !(BOLD | DIM),
                [23] => pen.attrs &= !ITALIC,
                [24] => pen.attrs &= !UNDERLINE,
                [27] => pen.attrs &= !INVERSE,
                [n @ 30..=37] => pen.fg = IDX | u32::from(n - 30),
                [n @ 40..=47] => pen.bg = IDX | u32::from(n - 40),
                [n @ 90..=97] => pen.fg = IDX | u32::from(n - 82),
                [n @ 100..=107] => pen.bg = IDX | u32::from(n - 92),
                [39] => pen.fg = 0,
                [49] => pen.bg = 0,
                [x @ (38 | 48), rest @ ..] => {
                    let color = match rest {
                        [2, r, g, b] => match (u8_of(*r), u8_of(*g), u8_of(*b)) {
                            (Some(r), Some(g), Some(b)) => Some(rgb(r, g, b)),
                            _ => return,
                        },
                        [5, i] => match u8_of(*i) {
                            Some(i) => Some(IDX | u32::from(i)),
                            None => return,
                        },
                        [] => match it.next() {
                            Some(&[2]) => {
                                let (Some(r), Some(g), Some(b)) =
                                    (next_u8(&mut it), next_u8(&mut it), next_u8(&mut it))
                                else {
                                    return;
                                };
                                Some(rgb(r, g, b))
                            }
                            Some(&[5]) => match next_u8(&mut it) {
                                Some(i) => Some(IDX | u32::from(i)),
                                None => return,
                            },
                            _ => return,
                        },
                        _ => None,
                    };
                    if let Some(color) = color {
                        if *x == 38 {
                            pen.fg = color;
                        } else {
                            pen.bg = color;
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Escape sequences that draw this state on a freshly reset terminal of
    /// the same size (and clean up one that is not fresh).
    pub(crate) fn repaint(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        // Back to the main screen with default modes, then clear it.
        out.extend_from_slice(
            b"\x1b[?1049l\x1b[?1;6;9;1000;1002;1003;1005;1006;2004l\x1b[?25h\x1b>\x1b[0m\x1b[r\x1b[H\x1b[2J",
        );
        let mut pen = Pen::DEFAULT;
        paint(&self.grids[0], &mut out, &mut pen);
        if self.alt {
            // Entering the alternate screen saves the cursor leaving it
            // restores: the main screen's saved one.
            let (row, col) = self.grids[0].saved;
            cup(&mut out, row, col);
            if self.saved_pen != pen {
                self.saved_pen.write_sgr(&mut out);
                pen = self.saved_pen;
            }
            out.extend_from_slice(b"\x1b[?1049h\x1b[H");
            paint(&self.grids[1], &mut out, &mut pen);
        }
        let g = self.grid();
        if !self.alt && (g.saved != (0, 0) || self.saved_pen != Pen::DEFAULT) {
            cup(&mut out, g.saved.0, g.saved.1);
            self.saved_pen.write_sgr(&mut out);
            pen = self.saved_pen;
            out.extend_from_slice(b"\x1b7");
        }
        if g.top != 0 || g.bottom != g.nrows - 1 {
            let _ = write_bytes(
                &mut out,
                format_args!("\x1b[{};{}r", g.top + 1, g.bottom + 1),
            );
        }
        if g.origin {
            out.extend_from_slice(b"\x1b[?6h");
        }
        // The cursor: CUP, which origin mode counts from the region's top.
        // A VPA can leave it outside the region in origin mode (VPA ignores
        // origin mode here, as in the vt100 model), where no CUP reaches:
        // VPA and CHA then, both absolute.
        let place = |out: &mut Vec<u8>, col: u16| {
            if !g.origin {
                cup(out, g.row, col);
            } else if (g.top..=g.bottom).contains(&g.row) {
                cup(out, g.row - g.top, col);
            } else {
                let _ = write_bytes(out, format_args!("\x1b[{}d\x1b[{}G", g.row + 1, col + 1));
            }
        };
        if g.col >= g.ncols {
            // Past the last column (the next character wraps): draw the
            // last character again to get there.
            let row = &g.rows[usize::from(g.row)];
            let mut col = g.ncols - 1;
            if row.cells[usize::from(col)].cont() && col > 0 {
                col -= 1;
            }
            place(&mut out, col);
            let cell = row.cells[usize::from(col)];
            if cell.pen != pen {
                cell.pen.write_sgr(&mut out);
                pen = cell.pen;
            }
            let mut buf = [0u8; 4];
            let ch = if cell.has_contents() { cell.ch } else { ' ' };
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            if let Some(extra) = row.extra(col) {
                out.extend_from_slice(extra.as_bytes());
            }
        } else {
            place(&mut out, g.col);
        }
        if pen != self.pen {
            self.pen.write_sgr(&mut out);
        }
        for (bit, seq) in [
            (MODE_APP_CURSOR, &b"\x1b[?1h"[..]),
            (MODE_HIDE_CURSOR, b"\x1b[?25l"),
            (MODE_BRACKETED_PASTE, b"\x1b[?2004h"),
            (MODE_APP_KEYPAD, b"\x1b="),
        ] {
            if self.modes & bit != 0 {
                out.extend_from_slice(seq);
            }
        }
        if self.mouse_mode != 0 {
            let _ = write_bytes(&mut out, format_args!("\x1b[?{}h", self.mouse_mode));
        }
        if self.mouse_encoding != 0 {
            let _ = write_bytes(&mut out, format_args!("\x1b[?{}h", self.mouse_encoding));
        }
        out
    }
}

fn rgb(r: u8, g: u8, b: u8) -> u32 {
    RGB | u32::from(r) << 16 | u32::from(g) << 8 | u32::from(b)
}

fn write_bytes(out: &mut Vec<u8>, args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    std::io::Write::write_fmt(out, args)
}

fn cup(out: &mut Vec<u8>, row: u16, col: u16) {
    let _ = write_bytes(out, format_args!("\x1b[{};{}H", row + 1, col + 1));
}

/// Draws a grid's rows from the top: each row from its first column, a
/// row that continues into the next one written through its end so that
/// the terminal wraps it the same way.
fn paint(g: &Grid, out: &mut Vec<u8>, pen: &mut Pen) {
    let mut continued = false;
    for (r, row) in g.rows.iter().enumerate() {
        let r = u16::try_from(r).unwrap_or(u16::MAX);
        // Up to the last cell that shows anything.
        let end = row
            .cells
            .iter()
            .rposition(|c| c.has_contents() || c.pen != Pen::DEFAULT)
            .map_or(0, |i| i + 1);
        let goes_on = row.wrapped && usize::from(r) + 1 < g.rows.len();
        // A row the one above wraps into starts with a character (the
        // wrap happens when it is drawn), a continued row ends with one.
        let end = if goes_on {
            row.cells.len()
        } else if continued {
            end.max(1)
        } else {
            end
        };
        if !continued {
            if end == 0 {
                continue;
            }
            cup(out, r, 0);
        }
        let mut col = 0usize;
        let mut gap = 0usize;
        while col < end {
            let cell = row.cells[col];
            if cell.cont() {
                col += 1;
                continue;
            }
            let blank = !cell.has_contents();
            if blank && cell.pen == Pen::DEFAULT && !(continued && col == 0) && col + 1 < end {
                gap += 1;
                col += 1;
                continue;
            }
            if gap > 0 {
                let _ = write_bytes(out, format_args!("\x1b[{gap}C"));
                gap = 0;
            }
            if cell.pen != *pen {
                cell.pen.write_sgr(out);
                *pen = cell.pen;
            }
            if blank && !(continued && col == 0) && !(goes_on && col + 1 == row.cells.len()) {
                // An empty cell with colours: erase it, do not fill it.
                let run = row.cells[col..end]
                    .iter()
                    .take_while(|c| !c.has_contents() && c.pen == cell.pen && !c.cont())
                    .count()
                    .max(1);
                let _ = write_bytes(out, format_args!("\x1b[{run}X"));
                col += run;
                if col < end {
                    let _ = write_bytes(out, format_args!("\x1b[{run}C"));
                }
                continue;
            }
            let mut buf = [0u8; 4];
            let ch = if blank { ' ' } else { cell.ch };
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            if let Some(extra) = u16::try_from(col).ok().and_then(|c| row.extra(c)) {
                out.extend_from_slice(extra.as_bytes());
            }
            col += if cell.wide() { 2 } else { 1 };
        }
        continued = goes_on;
    }
}

/// Adds a combining mark to the character before the cursor.
fn combine(g: &mut Grid, c: char) {
    let row = &mut g.rows[usize::from(g.row)];
    let mut base = g.col - 1;
    if row.cells[usize::from(base)].cont() {
        if base == 0 {
            return;
        }
        base -= 1;
    }
    let cell = &mut row.cells[usize::from(base)];
    let base_len = if cell.has_contents() {
        cell.ch.len_utf8()
    } else {
        1
    };
    let extra_len = row.extra(base).map_or(0, str::len);
    if base_len + extra_len >= MAX_CELL_BYTES {
        return;
    }
    let cell = &mut row.cells[usize::from(base)];
    if !cell.has_contents() {
        cell.ch = ' ';
    }
    match row.extras.iter_mut().find(|(col, _)| *col == base) {
        Some((_, s)) => s.push(c),
        None => row.extras.push((base, c.to_string())),
    }
    if base > 0 && row.cells[usize::from(base - 1)].wide() {
        row.clear_keep(base - 1);
    }
}

/// After drawing at `col`: repairs wide characters the drawing cut.
fn cleanup(row: &mut Row, col: u16, was_wide: bool, is_wide: bool, pen: Pen) {
    if col > 0 && row.cells[usize::from(col - 1)].wide() {
        row.clear_keep(col - 1);
    }
    if was_wide && !is_wide {
        row.set(
            col + 1,
            Cell {
                ch: ' ',
                flags: 0,
                pen,
            },
        );
    }
    if !was_wide && is_wide {
        let next_was_wide = row.cells[usize::from(col + 1)].wide();
        row.set(
            col + 1,
            Cell {
                ch: '\0',
                flags: CONT,
                pen: Pen::DEFAULT,
            },
        );
        if next_was_wide {
            row.set(col + 2, Cell::empty(pen));
            if col + 2 == row.cols() - 1 {
                row.wrapped = false;
            }
        }
    }
}

fn param1(params: &vte::Params, default: u16) -> u16 {
    match params.iter().next().and_then(|p| p.first().copied()) {
        None | Some(0) => default,
        Some(n) => n,
    }
}

fn param2(params: &vte::Params, d1: u16, d2: u16) -> (u16, u16) {
    let mut it = params.iter();
    let mut one = |d| match it.next().and_then(|p| p.first().copied()) {
        None | Some(0) => d,
        Some(n) => n,
    };
    let a = one(d1);
    let b = one(d2);
    (a, b)
}

impl vte::Perform for Term {
    #[inline]
    fn print(&mut self, c: char) {
        // The common case first: printable ASCII that fits on the row and
        // overwrites neither half of a wide character.
        if (' '..'\u{7f}').contains(&c) {
            let pen = self.pen;
            let g = &mut self.grids[usize::from(self.alt)];
            let col = usize::from(g.col);
            let row = &mut g.rows[usize::from(g.row)];
            if row.extras.is_empty()
                && let Some(cell) = row.cells.get_mut(col)
                && cell.flags == 0
                && (col == 0 || row.cells[col - 1].flags & WIDE == 0)
            {
                row.cells[col] = Cell {
                    ch: c,
                    flags: 0,
                    pen,
                };
                g.col += 1;
                self.last_char = Some(c);
                return;
            }
        }
        self.draw(c);
    }

    fn execute(&mut self, byte: u8) {
        let g = self.grid_mut();
        match byte {
            8 => g.col = g.col.saturating_sub(1),
            9 => {
                g.col -= g.col % 8;
                g.col = g.col.saturating_add(8);
                g.clamp_col();
            }
            10..=12 => {
                g.row_inc_scroll(1);
            }
            13 => g.col = 0,
            _ => {}
        }
    }

    fn esc_dispatch(&mut self, intermediates: &[u8], _ignore: bool, byte: u8) {
        if !intermediates.is_empty() {
            return; // charset designations and the like
        }
        match byte {
            b'7' => self.save_cursor(),
            b'8' => self.restore_cursor(),
            b'=' => self.modes |= MODE_APP_KEYPAD,
            b'>' => self.modes &= !MODE_APP_KEYPAD,
            b'M' => self.grid_mut().row_dec_scroll(1),
            b'D' => {
                self.grid_mut().row_inc_scroll(1);
            }
            b'E' => {
                let g = self.grid_mut();
                g.col = 0;
                g.row_inc_scroll(1);
            }
            b'c' => {
                let (rows, cols) = self.size();
                *self = Term::new(rows, cols);
            }
            _ => {}
        }
    }

    fn csi_dispatch(&mut self, params: &vte::Params, intermediates: &[u8], _ignore: bool, c: char) {
        match intermediates {
            [] => {}
            [b'?'] => {
                match c {
                    'h' | 'l' => {
                        for p in params {
                            self.set_mode(c == 'h', p);
                        }
                    }
                    'J' | 'K' => self.erase(c, param1(params, 0)),
                    _ => {}
                }
                return;
            }
            _ => return,
        }
        let pen = self.pen;
        match c {
            '@' => {
                let n = param1(params, 1);
                let g = self.grid_mut();
                let col = g.col;
                g.cur().insert(col, n);
            }
            'A' => self.grid_mut().row_dec_clamp(param1(params, 1)),
            'B' => self.grid_mut().row_inc_clamp(param1(params, 1)),
            'C' => {
                let g = self.grid_mut();
                g.col = g.col.saturating_add(param1(params, 1));
                g.clamp_col();
            }
            'D' => {
                let g = self.grid_mut();
                g.col = g.col.saturating_sub(param1(params, 1));
            }
            'E' | 'F' => {
                let n = param1(params, 1);
                let g = self.grid_mut();
                g.col = 0;
                if c == 'E' {
                    g.row_inc_clamp(n);
                } else {
                    g.row_dec_clamp(n);
                }
            }
            'G' | '`' => {
                let g = self.grid_mut();
                g.col = param1(params, 1) - 1;
                g.clamp_col();
            }
            'H' | 'f' => {
                let (row, col) = param2(params, 1, 1);
                self.grid_mut().set_pos(row - 1, col - 1);
            }
            'J' | 'K' => self.erase(c, param1(params, 0)),
            'L' => {
                let n = param1(params, 1);
                let g = self.grid_mut();
                if g.in_region() {
                    let between = &mut g.rows[usize::from(g.row)..=usize::from(g.bottom)];
                    let k = usize::from(n).min(between.len());
                    between.rotate_right(k);
                    for row in &mut between[..k] {
                        row.reset();
                    }
                    g.rows[usize::from(g.bottom)].wrapped = false;
                }
            }
            'M' => {
                let n = param1(params, 1);
                let g = self.grid_mut();
                if g.in_region() {
                    let between = &mut g.rows[usize::from(g.row)..=usize::from(g.bottom)];
                    let k = usize::from(n).min(between.len());
                    for row in &mut between[..k] {
                        row.reset();
                    }
                    between.rotate_left(k);
                }
            }
            'P' => {
                let n = param1(params, 1);
                let g = self.grid_mut();
                let (col, cols) = (g.col, g.ncols);
                g.cur().remove(col, col.saturating_add(n).min(cols));
            }
            'S' => self.grid_mut().scroll_up(param1(params, 1)),
            'T' => self.grid_mut().scroll_down(param1(params, 1)),
            'X' => {
                let n = param1(params, 1);
                let g = self.grid_mut();
                let (col, cols) = (g.col, g.ncols);
                let row = g.cur();
                for i in col..col.saturating_add(n).min(cols) {
                    row.erase(i, pen);
                }
            }
            'b' => {
                if let Some(ch) = self.last_char {
                    for _ in 0..param1(params, 1) {
                        self.draw(ch);
                    }
                }
            }
            'd' => {
                let g = self.grid_mut();
                g.row = (param1(params, 1) - 1).min(g.nrows - 1);
            }
            'm' => self.sgr(params),
            'r' => {
                let rows = self.size().0;
                let (top, bottom) = param2(params, 1, rows);
                self.grid_mut().set_scroll_region(top - 1, bottom - 1);
            }
            's' => self.save_cursor(),
            'u' => self.restore_cursor(),
            _ => {}
        }
    }
}

impl Term {
    /// ED (`J`) and EL (`K`).
    fn erase(&mut self, which: char, mode: u16) {
        let pen = self.pen;
        let g = self.grid_mut();
        let (row, col, cols) = (usize::from(g.row), g.col, g.ncols);
        let forward = |r: &mut Row| {
            for i in col..cols {
                r.erase(i, pen);
            }
        };
        let backward = |r: &mut Row| {
            for i in 0..=col.min(cols - 1) {
                r.erase(i, pen);
            }
        };
        match (which, mode) {
            ('J', 0) => {
                for r in &mut g.rows[row + 1..] {
                    r.clear(pen);
                }
                forward(&mut g.rows[row]);
            }
            ('J', 1) => {
                for r in &mut g.rows[..row] {
                    r.clear(pen);
                }
                backward(&mut g.rows[row]);
            }
            ('J', 2) => {
                for r in &mut g.rows {
                    r.clear(pen);
                }
            }
            ('J', 3) => {
                if let Some(off) = &mut g.scrolled_off {
                    *off = 0;
                }
            }
            ('K', 0) => forward(&mut g.rows[row]),
            ('K', 1) => backward(&mut g.rows[row]),
            ('K', 2) => g.rows[row].clear(pen),
            _ => {}
        }
    }
}
