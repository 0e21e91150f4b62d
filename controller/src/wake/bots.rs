//! Which visitors get the page but never wake a service: bots, link unfurlers and uptime
//! monitors, recognised by a case-insensitive substring of the `User-Agent` header.

/// The built-in list ([`super::WakeConfig::bots`]'s default). Lowercase substrings; a
/// `User-Agent` containing any of them never wakes a service. A record replaces this list with
/// `spec.wake.ignoreUserAgents`.
///
/// Deliberately absent: `curl`, `wget`, `python-requests`, `go-http-client` and
/// `HeadlessChrome` — scripts and tests that ask for a service really want it.
pub const DEFAULT_BOTS: &[&str] = &[
    // search and generic crawlers ("bot" also covers Googlebot, bingbot, Slackbot, Twitterbot,
    // Discordbot, TelegramBot, LinkedInBot, Applebot, redditbot, ...)
    "bot",
    "crawler",
    "spider",
    "slurp",
    "bingpreview",
    "yandex",
    "baidu",
    // link unfurlers and previewers
    "facebookexternalhit",
    "facebookcatalog",
    "meta-externalagent",
    "slack-imgproxy",
    "whatsapp",
    "skypeuripreview",
    "microsoftpreview",
    "teams",
    "embedly",
    "iframely",
    "quora link preview",
    "pinterest",
    "vkshare",
    "mattermost",
    "rocket.chat",
    "zoominfo",
    "outlook",
    "google-inspectiontool",
    "google page renderer",
    "chrome-lighthouse",
    // uptime monitors and load-balancer health checks
    "uptimerobot",
    "pingdom",
    "statuscake",
    "site24x7",
    "betteruptime",
    "better uptime",
    "uptime-kuma",
    "uptime kuma",
    "freshping",
    "hetrixtools",
    "nodeping",
    "newrelicpinger",
    "datadogsynthetics",
    "checkly",
    "monitis",
    "googlestackdrivermonitoring",
    "amazon-route53-health-check",
    "elb-healthchecker",
    "kube-probe",
    "gomon",
    "updown.io",
    "cron-job.org",
];

/// True when `user_agent` contains (case-insensitively) one of `patterns`. Empty patterns are
/// ignored; a missing or empty User-Agent is not a bot.
pub fn is_bot<S: AsRef<str>>(user_agent: &str, patterns: &[S]) -> bool {
    if user_agent.is_empty() {
        return false;
    }
    let ua = user_agent.to_ascii_lowercase();
    patterns.iter().any(|p| {
        let p = p.as_ref().trim();
        !p.is_empty() && ua.contains(&p.to_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_bots_unfurlers_and_monitors_are_recognised() {
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "WhatsApp/2.23.20.0",
            "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
            "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
            "Amazon-Route53-Health-Check-Service (ref 1234; report http://amzn.to/1vsZADi)",
            "kube-probe/1.29",
            "TelegramBot (like TwitterBot)",
        ] {
            assert!(is_bot(ua, DEFAULT_BOTS), "{ua}");
        }
    }

    #[test]
    fn people_and_scripts_are_not_bots() {
        for ua in [
            "",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/130.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            "curl/8.5.0",
            "python-requests/2.32.3",
        ] {
            assert!(!is_bot(ua, DEFAULT_BOTS), "{ua}");
        }
    }

    #[test]
    fn a_record_override_replaces_the_list() {
        let custom = vec!["MyMonitor".to_string(), " ".to_string()];
        assert!(is_bot("mymonitor/1.0", &custom));
        assert!(!is_bot("Googlebot/2.1", &custom));
        let none: Vec<String> = vec![];
        assert!(!is_bot("Googlebot/2.1", &none));
    }
}
