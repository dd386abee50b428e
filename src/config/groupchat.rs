//! `[groupchat]`: chat rooms both ways (RFC 7702) and their limits.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Groupchat settings and limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupchatConfig {
    /// `false`: MUC joins towards SIP rooms get `service-unavailable` and INVITEs to
    /// `xmpp.muc_domains` get 404 (as before groupchat existed).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Rooms one user may be in through stox at once (XMPP users in SIP rooms, SIP users in
    /// XMPP rooms; counted per bare JID / SIP address). Beyond: `resource-constraint` / 486.
    #[serde(default = "default_rooms_per_user")]
    pub max_rooms_per_user: usize,
    /// Occupants stox keeps per bridged room: SIP users one XMPP room may hold through stox
    /// (beyond: 486 to the INVITE), and roster entries read from a SIP room's conference-info
    /// (beyond: ignored, with a log line).
    #[serde(default = "default_occupants")]
    pub max_occupants: usize,
    /// Shortest time between two conference NOTIFYs to one SIP participant (RFC 6665 §4.2.2);
    /// roster changes in between are merged into the next (partial) NOTIFY.
    #[serde(default = "default_notify_interval")]
    pub notify_interval_ms: u64,
    /// Largest conference-info body accepted in a NOTIFY from a SIP focus (else 413).
    #[serde(default = "default_notify_max")]
    pub notify_max_bytes: usize,
    /// Largest CPIM message (envelope + text) in a room, either way: larger MSRP messages
    /// get 413, larger XMPP bodies `not-acceptable`.
    #[serde(default = "default_cpim_max")]
    pub cpim_max_bytes: u64,
    /// Expires of our conference SUBSCRIBE (RFC 7702 §5.3 example: 600).
    #[serde(default = "default_subscribe_expires")]
    pub subscribe_expires_secs: u32,
    /// How long a SIP participant's NICKNAME is awaited before stox joins the XMPP room
    /// with a temporary nickname (RFC 7702 §6.1 allows either).
    #[serde(default = "default_nick_wait")]
    pub nickname_wait_ms: u64,
    /// How long an XMPP user's join into a SIP room waits, once the focus accepted the
    /// conference subscription, for a full conference-info document (RFC 4575 §4.4); then the
    /// user enters with the occupants known so far, and later NOTIFYs add the rest.
    #[serde(default = "default_roster_wait")]
    pub roster_wait_ms: u64,
    /// CUSAX (RFC 7081 §4): SIP rooms linked to an audio/video conference, by room URI
    /// (`"sip:montague@chat.example.net" = "sip:montague-av@chat.example.net"`); the link is
    /// shown in the room's `muc#roominfo`.
    #[serde(default)]
    pub audio_video: BTreeMap<String, String>,
    /// The `muc#roominfo` field that carries that link (RFC 7081 names it `audio-video-uri`;
    /// no XSF registry entry exists).
    #[serde(default = "default_av_var")]
    pub audio_video_var: String,
}

impl Default for GroupchatConfig {
    fn default() -> Self {
        GroupchatConfig {
            enabled: true,
            max_rooms_per_user: default_rooms_per_user(),
            max_occupants: default_occupants(),
            notify_interval_ms: default_notify_interval(),
            notify_max_bytes: default_notify_max(),
            cpim_max_bytes: default_cpim_max(),
            subscribe_expires_secs: default_subscribe_expires(),
            nickname_wait_ms: default_nick_wait(),
            roster_wait_ms: default_roster_wait(),
            audio_video: BTreeMap::new(),
            audio_video_var: default_av_var(),
        }
    }
}

impl GroupchatConfig {
    /// Semantic problems, by key.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![];
        if self.max_rooms_per_user == 0 {
            p.push(("groupchat.max_rooms_per_user", "must be at least 1".into()));
        }
        if self.max_occupants == 0 {
            p.push(("groupchat.max_occupants", "must be at least 1".into()));
        }
        if self.cpim_max_bytes < 256 {
            p.push(("groupchat.cpim_max_bytes", "must be at least 256".into()));
        }
        if self.subscribe_expires_secs < 60 {
            p.push((
                "groupchat.subscribe_expires_secs",
                "must be at least 60".into(),
            ));
        }
        for (room, av) in &self.audio_video {
            if !room.starts_with("sip:") || !av.starts_with("sip") {
                p.push((
                    "groupchat.audio_video",
                    format!("'{room}' = '{av}': both must be SIP URIs"),
                ));
            }
        }
        p
    }
}

fn yes() -> bool {
    true
}
fn default_rooms_per_user() -> usize {
    20
}
fn default_occupants() -> usize {
    500
}
fn default_notify_interval() -> u64 {
    500
}
fn default_notify_max() -> usize {
    262_144
}
fn default_cpim_max() -> u64 {
    65_536
}
fn default_subscribe_expires() -> u32 {
    600
}
fn default_nick_wait() -> u64 {
    1000
}
fn default_roster_wait() -> u64 {
    3000
}
fn default_av_var() -> String {
    "audio-video-uri".into()
}
