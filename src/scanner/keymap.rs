//! Our own key-code → byte map for HID keyboard-wedge scanners. Owns the US key positions a scanner types
//! and the modifier state (Shift, Ctrl, Alt+keypad). Pure: no device, no clock.
//!
//! Why our own map: a wedge scanner sends key *positions* as if it were a US keyboard. Going through the
//! system keymap would let an Italian, French or German layout turn digits into `à&é"'(` and the like; with
//! raw evdev codes and this table, `KEY_1` is always `1`, whatever the console or desktop layout is.
//!
//! Rules:
//! - only key-down (value 1) types; auto-repeat (2) and key-up (0) never do, but every press does ("22" is
//!   two presses of `KEY_2`, and is never collapsed);
//! - Shift (either side) selects the US shifted symbol or capital letter; Caps Lock is ignored (scanners send
//!   Shift for capitals);
//! - Ctrl + a key whose character is `@`..`_` or a letter types the control byte (`c & 0x1f`): Ctrl+] is GS
//!   (0x1D), the GS1 separator many scanners send this way, Ctrl+^ is RS, Ctrl+D is EOT;
//! - Alt held + keypad digits types the byte with that decimal value on Alt release (Windows-style
//!   "Alt+029" = GS); values above 255 are ignored;
//! - keypad digits and operators type their character whatever Num Lock says;
//! - Enter and keypad Enter are [`Key::Enter`], Tab is [`Key::Tab`]: the two suffixes a wedge scanner can be
//!   set to send. Which of them ends a code is the framer's choice (`scanner.hid.terminator`), not the map's.

use evdev::KeyCode;

/// Key event values as evdev reports them.
const KEY_UP: i32 = 0;
const KEY_DOWN: i32 = 1;

/// What one key event means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A byte of the code.
    Byte(u8),
    /// Enter or keypad Enter.
    Enter,
    /// Tab.
    Tab,
}

/// Modifier state and Alt+keypad accumulator of one keyboard-wedge device.
#[derive(Debug, Default)]
pub struct KeyMapper {
    left_shift: bool,
    right_shift: bool,
    left_ctrl: bool,
    right_ctrl: bool,
    left_alt: bool,
    right_alt: bool,
    /// Decimal value typed on the keypad while Alt is held.
    alt_code: Option<u32>,
}

impl KeyMapper {
    /// A mapper with no modifier held.
    pub fn new() -> KeyMapper {
        KeyMapper::default()
    }

    /// Feeds one `EV_KEY` event (`code`, `value`), returning what it typed, if anything.
    pub fn feed(&mut self, code: u16, value: i32) -> Option<Key> {
        let key = KeyCode::new(code);
        if value != KEY_DOWN && value != KEY_UP {
            return None; // auto-repeat: a scanner never means it, a stuck key must not type a run of digits
        }
        let down = value == KEY_DOWN;
        let was_alt = self.alt();
        match key {
            KeyCode::KEY_LEFTSHIFT => self.left_shift = down,
            KeyCode::KEY_RIGHTSHIFT => self.right_shift = down,
            KeyCode::KEY_LEFTCTRL => self.left_ctrl = down,
            KeyCode::KEY_RIGHTCTRL => self.right_ctrl = down,
            KeyCode::KEY_LEFTALT => self.left_alt = down,
            KeyCode::KEY_RIGHTALT => self.right_alt = down,
            _ => {
                if !down {
                    return None;
                }
                return self.press(key);
            }
        }
        if was_alt && !self.alt() {
            // Alt released: an Alt+keypad sequence types its byte now.
            let value = self.alt_code.take()?;
            return u8::try_from(value).ok().map(Key::Byte);
        }
        None
    }

    fn shift(&self) -> bool {
        self.left_shift || self.right_shift
    }
    fn ctrl(&self) -> bool {
        self.left_ctrl || self.right_ctrl
    }
    fn alt(&self) -> bool {
        self.left_alt || self.right_alt
    }

    fn press(&mut self, key: KeyCode) -> Option<Key> {
        let suffix = match key {
            KeyCode::KEY_ENTER | KeyCode::KEY_KPENTER => Some(Key::Enter),
            KeyCode::KEY_TAB => Some(Key::Tab),
            _ => None,
        };
        if suffix.is_some() {
            self.alt_code = None;
            return suffix;
        }
        if self.alt() {
            if let Some(d) = keypad_digit(key) {
                // Saturate: an absurdly long Alt sequence must not overflow, it is simply out of range.
                let v = self
                    .alt_code
                    .unwrap_or(0)
                    .saturating_mul(10)
                    .saturating_add(u32::from(d));
                self.alt_code = Some(v.min(1000));
                return None;
            }
        }
        let c = us_char(key, self.shift())?;
        if self.ctrl() {
            let upper = c.to_ascii_uppercase();
            return (0x40..=0x5f).contains(&upper).then_some(Key::Byte(upper & 0x1f));
        }
        Some(Key::Byte(c))
    }
}

/// The digit on `key`, a keypad digit or one of the top row (what a PIN keypad sends, NumLock on or off).
pub(crate) fn digit_key(key: KeyCode) -> Option<u8> {
    keypad_digit(key).or_else(|| us_char(key, false).filter(u8::is_ascii_digit).map(|c| c - b'0'))
}

fn keypad_digit(key: KeyCode) -> Option<u8> {
    Some(match key {
        KeyCode::KEY_KP0 => 0,
        KeyCode::KEY_KP1 => 1,
        KeyCode::KEY_KP2 => 2,
        KeyCode::KEY_KP3 => 3,
        KeyCode::KEY_KP4 => 4,
        KeyCode::KEY_KP5 => 5,
        KeyCode::KEY_KP6 => 6,
        KeyCode::KEY_KP7 => 7,
        KeyCode::KEY_KP8 => 8,
        KeyCode::KEY_KP9 => 9,
        _ => return None,
    })
}

/// The character at `key`'s position on a US keyboard.
fn us_char(key: KeyCode, shift: bool) -> Option<u8> {
    if let Some(d) = keypad_digit(key) {
        return Some(b'0' + d);
    }
    let (plain, shifted) = match key {
        KeyCode::KEY_1 => (b'1', b'!'),
        KeyCode::KEY_2 => (b'2', b'@'),
        KeyCode::KEY_3 => (b'3', b'#'),
        KeyCode::KEY_4 => (b'4', b'$'),
        KeyCode::KEY_5 => (b'5', b'%'),
        KeyCode::KEY_6 => (b'6', b'^'),
        KeyCode::KEY_7 => (b'7', b'&'),
        KeyCode::KEY_8 => (b'8', b'*'),
        KeyCode::KEY_9 => (b'9', b'('),
        KeyCode::KEY_0 => (b'0', b')'),
        KeyCode::KEY_MINUS => (b'-', b'_'),
        KeyCode::KEY_EQUAL => (b'=', b'+'),
        KeyCode::KEY_LEFTBRACE => (b'[', b'{'),
        KeyCode::KEY_RIGHTBRACE => (b']', b'}'),
        KeyCode::KEY_SEMICOLON => (b';', b':'),
        KeyCode::KEY_APOSTROPHE => (b'\'', b'"'),
        KeyCode::KEY_GRAVE => (b'`', b'~'),
        KeyCode::KEY_BACKSLASH => (b'\\', b'|'),
        KeyCode::KEY_COMMA => (b',', b'<'),
        KeyCode::KEY_DOT => (b'.', b'>'),
        KeyCode::KEY_SLASH => (b'/', b'?'),
        KeyCode::KEY_SPACE => (b' ', b' '),
        KeyCode::KEY_KPMINUS => (b'-', b'-'),
        KeyCode::KEY_KPPLUS => (b'+', b'+'),
        KeyCode::KEY_KPASTERISK => (b'*', b'*'),
        KeyCode::KEY_KPSLASH => (b'/', b'/'),
        KeyCode::KEY_KPDOT => (b'.', b'.'),
        _ => {
            let letter = letter(key)?;
            return Some(if shift { letter.to_ascii_uppercase() } else { letter });
        }
    };
    Some(if shift { shifted } else { plain })
}

fn letter(key: KeyCode) -> Option<u8> {
    const ROWS: [(KeyCode, u8); 26] = [
        (KeyCode::KEY_A, b'a'),
        (KeyCode::KEY_B, b'b'),
        (KeyCode::KEY_C, b'c'),
        (KeyCode::KEY_D, b'd'),
        (KeyCode::KEY_E, b'e'),
        (KeyCode::KEY_F, b'f'),
        (KeyCode::KEY_G, b'g'),
        (KeyCode::KEY_H, b'h'),
        (KeyCode::KEY_I, b'i'),
        (KeyCode::KEY_J, b'j'),
        (KeyCode::KEY_K, b'k'),
        (KeyCode::KEY_L, b'l'),
        (KeyCode::KEY_M, b'm'),
        (KeyCode::KEY_N, b'n'),
        (KeyCode::KEY_O, b'o'),
        (KeyCode::KEY_P, b'p'),
        (KeyCode::KEY_Q, b'q'),
        (KeyCode::KEY_R, b'r'),
        (KeyCode::KEY_S, b's'),
        (KeyCode::KEY_T, b't'),
        (KeyCode::KEY_U, b'u'),
        (KeyCode::KEY_V, b'v'),
        (KeyCode::KEY_W, b'w'),
        (KeyCode::KEY_X, b'x'),
        (KeyCode::KEY_Y, b'y'),
        (KeyCode::KEY_Z, b'z'),
    ];
    ROWS.iter().find(|(k, _)| *k == key).map(|(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: i32 = 0;
    const DOWN: i32 = 1;
    const REPEAT: i32 = 2;

    /// Presses and releases each key in turn, collecting what was typed.
    fn type_keys(m: &mut KeyMapper, keys: &[KeyCode]) -> Vec<Key> {
        let mut out = Vec::new();
        for k in keys {
            out.extend(m.feed(k.code(), DOWN));
            out.extend(m.feed(k.code(), UP));
        }
        out
    }

    fn bytes(keys: &[Key]) -> Vec<u8> {
        keys.iter()
            .filter_map(|k| if let Key::Byte(b) = k { Some(*b) } else { None })
            .collect()
    }

    #[test]
    fn digits_and_enter_type_the_exact_digits_whatever_the_system_layout() {
        // The scanner sends US positions; on an AZERTY desktop KEY_1 would be '&'. Our map ignores layouts.
        use KeyCode as K;
        let keys = [
            K::KEY_4,
            K::KEY_0,
            K::KEY_0,
            K::KEY_6,
            K::KEY_3,
            K::KEY_8,
            K::KEY_1,
            K::KEY_3,
            K::KEY_3,
        ];
        let keys = [
            &keys[..],
            &[K::KEY_9, K::KEY_3, K::KEY_1, K::KEY_5, K::KEY_2, K::KEY_7, K::KEY_ENTER],
        ]
        .concat();
        let out = type_keys(&mut KeyMapper::new(), &keys);
        assert_eq!(bytes(&out), b"400638133931527");
        assert_eq!(out.last(), Some(&Key::Enter));
    }

    #[test]
    fn every_digit_key_and_keypad_digit_maps_to_its_digit() {
        use KeyCode as K;
        let row = [
            K::KEY_0,
            K::KEY_1,
            K::KEY_2,
            K::KEY_3,
            K::KEY_4,
            K::KEY_5,
            K::KEY_6,
            K::KEY_7,
            K::KEY_8,
            K::KEY_9,
        ];
        let pad = [K::KEY_KP0, K::KEY_KP1, K::KEY_KP2, K::KEY_KP3, K::KEY_KP4];
        let pad = [&pad[..], &[K::KEY_KP5, K::KEY_KP6, K::KEY_KP7, K::KEY_KP8, K::KEY_KP9]].concat();
        assert_eq!(bytes(&type_keys(&mut KeyMapper::new(), &row)), b"0123456789");
        assert_eq!(bytes(&type_keys(&mut KeyMapper::new(), &pad)), b"0123456789");
    }

    #[test]
    fn repeated_presses_are_kept_and_auto_repeat_is_ignored() {
        let mut m = KeyMapper::new();
        let two = KeyCode::KEY_2.code();
        let mut out = Vec::new();
        out.extend(m.feed(two, DOWN));
        out.extend(m.feed(two, REPEAT));
        out.extend(m.feed(two, REPEAT));
        out.extend(m.feed(two, UP));
        out.extend(m.feed(two, DOWN));
        out.extend(m.feed(two, UP));
        assert_eq!(bytes(&out), b"22");
    }

    #[test]
    fn shift_gives_capitals_and_us_symbols() {
        use KeyCode as K;
        let mut m = KeyMapper::new();
        let mut out = type_keys(&mut m, &[K::KEY_O, K::KEY_R, K::KEY_D, K::KEY_MINUS]);
        m.feed(K::KEY_RIGHTSHIFT.code(), DOWN);
        out.extend(type_keys(
            &mut m,
            &[K::KEY_A, K::KEY_B, K::KEY_SEMICOLON, K::KEY_SLASH, K::KEY_1],
        ));
        m.feed(K::KEY_RIGHTSHIFT.code(), UP);
        out.extend(type_keys(&mut m, &[K::KEY_A, K::KEY_DOT, K::KEY_SEMICOLON]));
        assert_eq!(bytes(&out), b"ord-AB:?!a.;");
    }

    #[test]
    fn shift_released_on_one_side_stays_held_on_the_other() {
        let mut m = KeyMapper::new();
        m.feed(KeyCode::KEY_LEFTSHIFT.code(), DOWN);
        m.feed(KeyCode::KEY_RIGHTSHIFT.code(), DOWN);
        m.feed(KeyCode::KEY_LEFTSHIFT.code(), UP);
        assert_eq!(bytes(&type_keys(&mut m, &[KeyCode::KEY_X])), b"X");
    }

    #[test]
    fn ctrl_right_brace_is_the_gs1_group_separator() {
        use KeyCode as K;
        let mut m = KeyMapper::new();
        let mut out = type_keys(&mut m, &[K::KEY_0, K::KEY_1]);
        m.feed(K::KEY_LEFTCTRL.code(), DOWN);
        out.extend(type_keys(&mut m, &[K::KEY_RIGHTBRACE]));
        m.feed(K::KEY_LEFTCTRL.code(), UP);
        out.extend(type_keys(&mut m, &[K::KEY_1, K::KEY_0]));
        assert_eq!(bytes(&out), b"01\x1d10");
    }

    #[test]
    fn ctrl_with_a_key_without_control_byte_types_nothing() {
        let mut m = KeyMapper::new();
        m.feed(KeyCode::KEY_RIGHTCTRL.code(), DOWN);
        assert_eq!(type_keys(&mut m, &[KeyCode::KEY_1]), vec![]);
    }

    #[test]
    fn alt_and_keypad_029_types_gs_on_alt_release() {
        use KeyCode as K;
        let mut m = KeyMapper::new();
        let mut out = Vec::new();
        out.extend(m.feed(K::KEY_LEFTALT.code(), DOWN));
        out.extend(type_keys(&mut m, &[K::KEY_KP0, K::KEY_KP2, K::KEY_KP9]));
        assert_eq!(out, vec![], "nothing is typed while Alt is held");
        out.extend(m.feed(K::KEY_LEFTALT.code(), UP));
        assert_eq!(out, vec![Key::Byte(0x1d)]);
    }

    #[test]
    fn alt_code_above_255_types_nothing_and_alt_alone_types_nothing() {
        use KeyCode as K;
        let mut m = KeyMapper::new();
        m.feed(K::KEY_LEFTALT.code(), DOWN);
        type_keys(
            &mut m,
            &[K::KEY_KP9, K::KEY_KP9, K::KEY_KP9, K::KEY_KP9, K::KEY_KP9, K::KEY_KP9],
        );
        assert_eq!(m.feed(K::KEY_LEFTALT.code(), UP), None);
        m.feed(K::KEY_RIGHTALT.code(), DOWN);
        assert_eq!(m.feed(K::KEY_RIGHTALT.code(), UP), None);
    }

    #[test]
    fn enter_and_keypad_enter_are_enter_and_tab_is_told_apart() {
        let table = [
            (KeyCode::KEY_ENTER, Key::Enter),
            (KeyCode::KEY_KPENTER, Key::Enter),
            (KeyCode::KEY_TAB, Key::Tab),
        ];
        for (k, want) in table {
            assert_eq!(type_keys(&mut KeyMapper::new(), &[k]), vec![want], "{k:?}");
        }
    }

    #[test]
    fn unmapped_keys_type_nothing() {
        use KeyCode as K;
        let out = type_keys(
            &mut KeyMapper::new(),
            &[K::KEY_F1, K::KEY_CAPSLOCK, K::KEY_NUMLOCK, K::KEY_ESC],
        );
        assert_eq!(out, vec![]);
        assert_eq!(
            KeyMapper::new().feed(9999, DOWN),
            None,
            "codes beyond the table are ignored, not a panic"
        );
    }
}
