//! kiosk (stub)
