# ruff: noqa: E501  (a table of patterns: a pattern reads better whole than wrapped)
"""The cues triage looks for: one table, a row per phrase, grouped by policy category.

A cue is a weighted pattern. A strong cue (0.8 and up) names the category by itself ("denial
of service", "X-Frame-Options", "Nessus"); a weak one (0.3 to 0.5) only counts with another
(two weak cues of 0.45 give 1 - 0.55 * 0.55 = 0.70, see ``hints.py``). The patterns are
written for the way researchers phrase these reports in English, German, Spanish, French and
Japanese; Japanese has no spaces between words, so its patterns are plain substrings.
Patterns are case-insensitive unless they say ``(?-i:...)``: "DoS" is a category, the Spanish
"dos" is the number two. ``_W`` stands for a few words of the same sentence.

Each category cites the policy clause it comes from (``../shared/spec/disclosure-policy.txt``
for Mio; a deployment sets its own sentences in ``[scope.policy]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from disclosure_inbox.domain.triage.anchors import anchors


@dataclass(frozen=True, slots=True)
class Cue:
    category: str
    weight: float
    pattern: re.Pattern[str]
    anchors: tuple[str, ...] | None = field(init=False)  # see anchors.py

    def __post_init__(self) -> None:
        object.__setattr__(self, "anchors", anchors(self.pattern))


@dataclass(frozen=True, slots=True)
class Step:
    """A reproduction cue: ``concrete`` when it shows one rather than names one; ``form``
    when it is the shape of a report (a "Steps to reproduce" heading, a numbered list, a
    CVSS vector), which a template has without any reproduction."""

    weight: float
    concrete: bool
    form: bool
    pattern: re.Pattern[str]
    anchors: tuple[str, ...] | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "anchors", anchors(self.pattern))


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE | re.MULTILINE)


def _cues(category: str, rows: list[tuple[float, str]]) -> list[Cue]:
    return [Cue(category, w, _compile(p)) for w, p in rows]


# A few words of the same sentence, lazily: no line break or sentence end ("." is allowed
# inside a name such as app.m.io).
_W = r"(?:[^\n.!?。]|\.(?=\S)){0,40}?"

# Field names of scanners' reports (Nessus, ZAP, Burp, Acunetix); not the ones a person's
# report template has too ("Vulnerability:", "Severity:", "Description:", "Remediation:").
_FIELDS = r"Plugin ID|Plugin Name|Plugin Output|Synopsis|Risk Factor|CVSS (v\d )?Base Score|Risk Level|Confidence|Alert|Solution|Instances|Evidence|Issue (type|detail|background)|Attack|Parameter|Affected Items?"

# fmt: off
CUES: tuple[Cue, ...] = tuple(
    # Exclusions: "Distributed Denial of Service (DoS/DDoS) attacks".
    _cues("dos", [
        (0.85, r"(?-i:\bD?DoS\b|\bDDOS\b)|denial[- ]of[- ]service|dienstverweigerung|denegaci[oó]n de servicio|d[ée]ni de service|サービス(拒否|妨害)|DoS攻撃"),
        (0.7, r"\b(slowloris|resource exhaustion|ReDoS|amplification attack|zip bomb|billion laughs)\b"),
        (0.6, r"\b(flood(ed|ing)?|overload(ed|ing)?|exhaust(ed|ing|s)?|hammer(ed|ing)?)\b" + _W + r"\b(server|service|api|endpoint|site|website|requests?|cpu|memory|bandwidth|connections?)"),
        (0.6, r"\b(thousands|millions|hundreds of thousands|\d{1,3}[,.]?\d{3}|\d{4,}) (of )?(concurrent |parallel |simultaneous )?(requests|connections|packets|calls)\b"),
        (0.55, r"\b(crash(ed|es)?|took down|take (it |the \w+ )?down|bring down|brought down|knock(ed)? (it |\w+ )?offline|went down|goes down|unresponsive|unavailable|keeps? (a |the |all )?(workers?|threads?|cpu|server)s? busy)\b"),
        (0.45, r"\b(no|missing|lack of|without( any)?) rate[- ]?limit"),
        (0.6, r"zip[- ]?bomb\w*|Dekompressionsbombe|Ressourcen-?(erschöpfung|verbrauch)|Speicherverbrauch|overbelast\w*|onbereikbaar|sobrecarga|lahmleg|lahmgeleg|überlast|Absturz|abstürz|tausende[n]? (von )?(Anfragen|Requests)|nicht mehr erreichbar"),
        (0.6, r"(tumbar|saturar|colapsar|sobrecargar) (el|la|los|sus) (servidor|servicio|sitio|web|api)|miles de (peticiones|solicitudes|conexiones)|ca[ií]da del (servicio|servidor)|dej(ar|ó|a) de responder"),
        (0.6, r"大量の(リクエスト|アクセス|接続|パケット)|過負荷|高負荷|(サーバ|サービス)(ー)?(が|を)?(ダウン|停止)|応答(不能|しなくな)"),
        (0.45, r"(sin|ningún) l[ií]mite de (peticiones|solicitudes|velocidad)|kein(e)? Rate[- ]?Limit|レート制限(が)?(ない|ありません|されていません)"),
    ])
    # Exclusions: "Spamming".
    + _cues("spam", [
        (0.85, r"\bspam|スパム|迷惑メール|correo(s)? no deseado|pourriel"),
        (0.75, r"\b(e-?mail|mail|inbox|sms) ?(bomb(ing|er)?|flood(ing)?)\b|メール爆弾"),
        (0.65, r"\b(unlimited|mass|bulk|massive|arbitrary number of|any number of|endless)\b" + _W + r"\b(e-?mails?|messages|invitations|invites|sms|notifications|newsletters?)\b"),
        (0.55, r"\b(double opt-?in|without (any )?confirmation|subscribes? (any|arbitrary|other people'?s?)( e-?mail)? address)|\b(thousands|hundreds|millions) of (people|addresses|strangers|inboxes|e-?mails|mails|messages|sms)\b|flood (someone|anyone|a victim|their|the victim|other)\w*('s)? (inbox|mailbox)"),
        (0.5, r"\b(no|missing|without( a)?|lack of)\b" + _W + r"\b(re)?captcha\b"),
        (0.35, r"\b(contact|feedback|invite|invitation|newsletter|sign-?up|registration) (form|box|field)\b"),
        (0.65, r"massenhaft|unbegrenzt (viele )?(E-Mails|Nachrichten|Einladungen)|Massen-?(E-Mails|mails)|Postfach\w* (zu )?(flut|überschwemm)|E-Mail-Flut"),
        (0.65, r"(correos|mensajes|invitaciones|e-?mails) (masivos|ilimitad[oa]s)|env[ií]o (masivo|ilimitado)|(ilimitad[oa]s|miles de) (correos|mensajes|invitaciones)|inundar\w*" + _W + r"(buz[oó]n|correo|bandeja)|(cientos|miles|[\d.]{3,}) (de )?correos"),
        (0.65, r"大量(の|に)(メール|招待|通知|メッセージ|登録)|無制限に(メール|招待|送信)"),
        (0.65, r"envoi (illimit[ée]|massif|en masse)|(e-?mails?|courriels?|messages|invitations) (illimit[ée]s|en masse)|inonder\w*" + _W + r"(bo[iî]te|messagerie)|e-?mails? (ilimitados|em massa)|invio (massivo|illimitato)"),
        (0.35, r"Kontaktformular|formulario de contacto|問い合わせフォーム"),
    ])
    # Exclusions: "Social engineering or phishing of Mio employees or contractors".
    + _cues("social_engineering", [
        (0.85, r"social[- ]engineer|ingenier[ií]a social|ing[ée]nierie sociale|ソーシャルエンジニアリング"),
        (0.8, r"\b(vishing|smishing|pretext(ing)?|spear[- ]?phish\w*)\b"),
        (0.55, r"\bphish(ing|ed|es)?\b|hame[çc]onnage|フィッシング"),
        (0.8, r"\b(employees?|staff|colleagues|users|people) (entered|submitted|typed|clicked|opened|fell for)\b" + _W + r"\b(credentials|passwords?|links?|phishing|attachments?|page)|\bmy phishing (page|site|e-?mails?|campaign|kit|domain)"),
        (0.8, r"\bphish\w* (exercise|campaign|simulation|test|e-?mails?|pages?|sites?|kit|attack)s?\b" + _W + r"\b(against|targeting|to|at|on)\b" + _W + r"\b(staff|employees?|workforce|team|colleagues|users|personnel|finance|hr)\b"),
        (0.8, r"suplantaci[oó]n|suplant(ar|é|ando|ado)\b|\b(ceo|cfo|executive|president|bec) (fraud|scam|impersonation)|fraude del? (ceo|director)|engenharia social|ingegneria sociale|\bimpersonat\w* (of )?(the |your |mio'?s? |a |an )?(ceo|cfo|staff|employees?|executives?|manager|it|support)"),
        (0.35, r"\b(whatsapp|telegram|signal|linkedin|teams) (message|chat|account|profile)s?|\bvia whatsapp|por whatsapp|\bpretend\w*|\bpret(e|é)xto"),
        (0.8, r"\b(impersonat\w+|posed as|pretend(ed|ing)? to be)\b" + _W + r"\b(employee|staff|support|admin\w*|ceo|cfo|manager|it department|help ?desk|agent|colleague|member)"),
        (0.75, r"\b(claiming to be|posing as|said (that )?i was (from|an?|the)|passed myself off)\b|hac(e|er|iendo)?(te|se|me)? pasar por|haces pasar por|diciendo que (era|soy)|mich\s+als\b.{0,60}?ausgegeben|gab mich\b.{0,40}?\baus\b|me faisant passer"),
        (0.7, r"\b(called|phoned|rang|chatted with|contacted|e-?mailed|messaged|wrote to)\b" + _W + r"\b(support|help ?desk|customer service|service desk|agent|employee|receptionist|hotline)"),
        (0.85, r"\b(convinced|tricked|persuaded|fooled|manipulated|deceived)\b" + _W + r"\b(employee|agent|support|staff|representative|operator|help ?desk|colleague)"),
        (0.7, r"(Mitarbeiter\w*|Support\w*|Kundendienst\w*|Helpdesk|Hotline)" + _W + r"(getäuscht|überredet|ausgetrickst|angerufen|manipuliert)|(angerufen|anrufen)" + _W + r"(Hotline|Support|Helpdesk|Kundendienst)"),
        (0.7, r"suplant\w+ (la identidad|a (un|una|su))|(engañ|convenc|manipul)\w+ a (un|una|su|sus|uno)|llam[eé] (a|al) (soporte|servicio)|el agente me\b"),
        (0.7, r"(社員|従業員|担当者|サポート|窓口)" + r".{0,15}(騙|だま|なりすま|電話)|なりすまし"),
        (0.6, r"\b(look-?alike|typo-?squat\w*|homograph\w*|confusable) (domains?|urls?|sites?)|\btypo-?squat\w*"),
    ])
    # Exclusions: "Physical attacks against Mio property, offices, or data centers".
    + _cues("physical", [
        (0.85, r"\bphysical(ly)? (access|attack|intrusion|security|entry|penetration|breach)|\b(tailgat\w+|piggyback\w+|lock[- ]?pick\w*|dumpster diving)\b|acceso f[ií]sico|physisch\w* (Zugang|Zugriff|Angriff|Eindring)|物理的|共連れ|accès physique"),
        (0.85, r"\b(walked|got|went|entered|snuck|sneaked|slipped)\b" + _W + r"\b(office|building|premises|server room|data ?cent(er|re)|lobby|warehouse)"),
        (0.85, r"(entr[eé]|ingres[eé]|acced[ií]|me col[eé])" + _W + r"(oficina|instalaciones|edificio)"),
        (0.6, r"\b(server room|data ?cent(er|re)s?|your offices?|office building|headquarters|reception desk|front desk|premises)\b"),
        (0.55, r"\b(badges?|access cards?|key ?cards?|rfid|door lock|turnstile|security guard)\b"),
        (0.85, r"\busb[- ](drop|baiting)|\b(dropped|left|planted|scattered)\b" + _W + r"\b(usb|thumb|flash) (sticks?|drives?|keys?)|USB-Sticks?\b" + _W + r"\b(ausgelegt|verteilt|hinterlegt|liegen gelassen)"),
        (0.55, r"\busb (sticks?|drives?|keys?|devices?)\b|USB-Stick|memorias? USB|pendrives?|dispositivos? USB|chiavett\w+ USB|pen ?drive|USBメモリ"),
        (0.8, r"acesso f[ií]sico|accesso fisico|sicurezza fisica|seguran[çc]a f[ií]sica|Zutrittskarte\w*|Ausweis\w* (geklont|kopiert)|(clon\w+|klon\w+|copi\w+) (de |der |the )?(tarjetas?|badges?|Karten|access cards?)"),
        (0.55, r"serverruimte|datacenter|kantoor|toegangspas\w*|fysieke? toegang|papiercontainer|sala de servidores|escrit[oó]rio|crach[aá]|Serverraum|Rechenzentrum|Zutritt|Zugangskarte|Firmenausweis|Büroräume|Empfang"),
        (0.55, r"sala de servidores|centro de datos|tarjeta de acceso|instalaciones|sus oficinas|recepci[oó]n"),
        (0.55, r"サーバールーム|データセンター|入館証|社員証|ICカード|オフィス|受付|施設"),
        (0.45, r"\b(unlocked|propped open)\b" + _W + r"\b(door|room|cabinet|rack|gate)"),
    ])
    # Out of scope: "Issues related to systems, domains, or services not owned or operated by
    # Mio" and "Vulnerabilities in third-party software, platforms, or services that Mio uses
    # but does not maintain or control" (hosts outside [scope] domains add a cue in hints.py).
    + _cues("third_party", [
        (0.75, r"\bthird[- ]party (library|libraries|plugin|plug-in|component|software|service|vendor|provider|dependency|package|script|widget|platform|integration|product|saas)"),
        (0.7, r"\bupstream\b|(library|framework|plugin|package|dependency|module|sdk) (itself|author|maintainers?)"),
        (0.65, r"\b(vulnerab\w+|bug|flaw|issue|weakness)\b (is |exists |lies )?in (the )?(\w+ )?(library|framework|plugin|package|dependency|sdk|component|vendor)"),
        (0.7, r"\bas a user of (the|this) (library|software|package|plugin|platform|framework)|\breport (it|this|the issue) to (the )?\w*\s?(maintainers|vendor|developers|authors|upstream)|\brather than (in )?(your|mio'?s) (own )?(setup|code|systems?|configuration|application)|\b(their|the vendor'?s|the provider'?s) (platform|service|product|software|code)\b|\b(does not|doesn'?t) affect \S+ itself"),
        (0.55, r"\b(wordpress|drupal|joomla|magento|jenkins|confluence|jira|gitlab|zendesk|freshdesk|intercom|salesforce|hubspot|statuspage|shopify|mailchimp|sendgrid|okta|auth0)\b" + _W + r"\b(plugin|instance|vendor|service|bug|vulnerab\w*|flaw|cve)"),
        (0.55, r"\b(not (owned|operated|maintained|controlled) by|hosted (by|on) (a )?(third|external|another))|(your|the|a) (vendor|provider|supplier|partner)('s)? (site|system|platform|server|service|software)"),
        (0.7, r"Drittanbieter|Fremdsoftware|Fremdanbieter|externe[nrs]? (Dienstleister|Anbieter)"),
        (0.65, r"Zahlungs(dienstleister|anbieter)\w*|an den (Anbieter|Hersteller)|betrifft nicht \S+ selbst|Plattform (von|des) \w+|(des|vom|beim) (Drittanbieter|Anbieter|Hersteller)s?\b"),
        (0.7, r"(software|librer[ií]a|biblioteca|plugin|servicio|proveedor|plataforma|componente) (de|externo de) terceros|proveedor externo|tercera(s)? parte|de tiers"),
        (0.65, r"plugin (de|for|für|pour) WordPress|WordPress[- ]Plugin|(autor|author|maintainers?|vendor|Hersteller|proveedor|fabricante) (del|of the|des|de la) (plugin|library|librer[ií]a|paquete|package|plataforma|platform|Plugins|Bibliothek)|\bdel (partner|distribuidor|proveedor)\b"),
        (0.7, r"サードパーティ|外部サービス|外部ベンダー|委託先|提供元|上流(の)?(ライブラリ|プロジェクト)|(埋め込|組み込)(まれ|ん)(て)?いる\S{0,10}(ウィジェット|スクリプト|サービス)"),
        (0.6, r"\b(npm|pypi|maven|rubygems|composer|nuget|cargo|go)[- ](package|library|module|Bibliothek|Paket|paquete|librer[ií]a|biblioth[eè]que)|\b(library|package|Bibliothek|Paket|librer[ií]a) (used|verwendet|utilizada|usada)\b|(wird|werden) von \S+ (verwendet|genutzt|eingesetzt)"),
        (0.4, r"(ライブラリ|プラグイン)(の|に)(脆弱性|不具合)|(Bibliothek|Plugin|Komponente)" + _W + r"(Schwachstelle|Lücke|Fehler)"),
    ])
    # Out of scope: "Reports based solely on best practices, missing security headers, or
    # other non-exploitable configurations".
    + _cues("best_practice", [
        (0.8, r"\bsecurity[- ]headers?\b|Sicherheits-?header|(cabecera|encabezado)s? de seguridad|en-?t[eê]tes? de s[ée]curit[ée]|セキュリティヘッダ"),
        (0.6, r"\b(X-Frame-Options|Strict-Transport-Security|HSTS|Content-Security-Policy|X-Content-Type-Options|X-XSS-Protection|Referrer-Policy|Permissions-Policy|Feature-Policy|Cross-Origin-\w+-Policy)\b|(?-i:\bCSP\b)"),
        (0.85, r"\b(missing|lacks?|lacking|absent|not (set|present|enabled|configured|implemented|defined)|no|without)\b" + _W + r"\b(X-Frame|Strict-Transport|HSTS|Content-Security|CSP|X-Content-Type|X-XSS|Referrer-Policy|Permissions-Policy|headers?)\b"),
        (0.85, r"(X-Frame|HSTS|Content-Security|CSP|X-Content-Type|Header)\w*" + _W + r"(fehlt|fehlen|nicht gesetzt|falta|ausente|no (est[aá]|se encuentra)|manquant|設定されていません|存在しません|ありません|未設定)|(falta|fehlende\w*|manque)" + _W + r"(X-Frame|HSTS|CSP|cabecera|encabezado|Header|en-t[eê]te)"),
        (0.85, r"(?-i:\b(SPF|DMARC|DKIM)\b)|p=none|\bspf record\b"),
        (0.55, r"\b(e-?mail|mail|domain) spoof(ing|able)?\b|spoof(ed)? (e-?mails?|sender)"),
        (0.75, r"\b(secure|httponly|samesite)\b" + _W + r"\b(flags?|attributes?)\b|cookies?\b" + _W + r"\b(without|missing|lacks?|not (set|marked)|ohne|sin|sans|sem|senza)\b" + _W + r"\b(secure|httponly|samesite)"),
        (0.55, r"\b(HttpOnly|SameSite)\b|\bsecurity (attributes|flags)\b"),
        (0.75, r"clickjack|クリックジャッキング|UI[- ]redress"),
        (0.65, r"\b(version|banner) (disclosure|leak\w*|grabbing|information)\b|server banner|\b(discloses|reveals|exposes|leaks|shows)\b" + _W + r"\bversion\b|X-Powered-By|(?-i:\bServer:) ?(nginx|apache|microsoft|cloudflare)"),
        (0.6, r"\bautocomplete\b|\b(TLS ?v?1\.[01]|SSLv[23]|weak (ciphers?|tls|ssl)|cipher suites?|BEAST|POODLE|SWEET32)\b"),
        (0.7, r"\bbest[- ]practices?\b|buenas pr[aá]cticas|mejores pr[aá]cticas|Best[- ]Practices?|bonnes pratiques|ベストプラクティス|推奨(設定|事項)"),
        (0.5, r"security\.txt|\b(weak )?password policy\b|Passwort-?richtlinie|pol[ií]tica de contrase[ñn]as|politique de mot de passe|tabnabbing|target=.?_blank|Access-Control-Allow-Origin: ?\*|\bopen (directory|port)s?\b"),
    ])
    # Out of scope: "Findings from automated scans that are not manually validated for impact".
    + _cues("scanner_unvalidated", [
        (0.8, r"\b(sqlmap|Nessus|Acunetix|OpenVAS|Qualys|Nikto|Nuclei|Invicti|Netsparker|AppScan|WebInspect|Arachni|w3af|Wapiti|Detectify|Tenable|Nexpose|InsightVM|Skipfish|OWASP ZAP|ZAP (scan|report|baseline)|Burp (Suite )?(Pro(fessional)? )?Scan(ner)?|Vega scanner|Intruder\.io|Probely|Pentest-Tools|Sucuri SiteCheck|Mozilla Observatory|securityheaders\.com|ssllabs)\b"),
        (0.75, r"\b(automated|automatic|vulnerability|security|web) (scan|scanner|scanning)( tool)?s?\b|\bscan(ning)? (report|results?|output|findings)\b|\bscanner (found|reported|detected|flagged|identified|shows)"),
        (0.7, r"\b(the|our|my|a) (tool|scanner)s? (found|reported|detected|flagged|identified)"),
        (0.6, r"\b\d+ (critical|high|medium|low)\b[^\n.]{0,40}\b(issues|vulnerabilities|findings|alerts|risks)\b|\battached\b" + _W + r"\b(security|vulnerability|scan|assessment|audit|pentest|penetration test) (report|results|findings)\b|(report|results) (is |are )?attached"),
        (0.8, r"\bConfidence:?\s*(?-i:Tentative|Firm|Certain)\b|\bplease (check|verify|confirm)\b" + _W + r"\b(scan|scanner|tool|finding|report)"),
        (0.85, r"^\W{0,2}(Plugin ID|Plugin|Risk|Host|Name|Severity|Vulnerability|Alert)\W{0,2}[,;\t]\W{0,2}(CVE|CVSS|Risk|Host|Protocol|Port|Name|Synopsis|Severity|Description|Solution|URL)\b"),
        (0.7, r"^\[\d\d:\d\d:\d\d\] \[(INFO|WARNING|CRITICAL|ERROR)\]|\b(might|may|could) be injectable\b"),
        (0.8, r"automatisiert\w* (Scan|Prüfung|Analyse)|Scan-?(Ergebnis|Bericht|report)|Schwachstellenscanner|Scanner"),
        (0.75, r"escaneo (autom[aá]tico|automatizado|de vulnerabilidades)|resultados del escaneo|esc[aá]ner|herramienta autom[aá]tica|analyse automatis[ée]e|scanner automatique"),
        (0.75, r"スキャン(結果|レポート|ツール)|脆弱性スキャナ|自動(スキャン|診断)|診断ツール|スキャナ"),
        # A scanner's report layout: two of its field lines close together (one alone is any report's).
        (0.7, r"^\s*(" + _FIELDS + r")\s*[:|].*\n(?:.*\n){0,4}?\s*(" + _FIELDS + r")\s*[:|]"),
        (0.8, r"^\[[\w:.-]+\] \[(http|dns|ssl|tcp|network|file)\] \[(info|low|medium|high|critical)\]|^\+ (OSVDB|Target IP|Server: |The anti-clickjacking|Retrieved x-powered-by)"),
    ])
    # Out of scope: "Theoretical attacks without a proven, practical security impact".
    + _cues("theoretical", [
        (0.8, r"\btheor(etical(ly)?|y)\b|\bhypothetical(ly)?\b|theoretisch|hypothetisch|te[oó]ric(o|a|amente)|en teor[ií]a|hipot[ée]tic|th[ée]orique|理論(的|上)|仮説"),
        (0.6, r"\b(have|has|did)( not|n't) (yet )?(been )?(test|tested|verif(y|ied)|confirm(ed)?|exploit(ed)?|tried|reproduce[d]?|validated?)\b"),
        (0.55, r"\bin principle\b|\b(cannot|can'?t|could not|couldn'?t) (say|confirm|verify|tell|prove) (whether|if|that)|\bi (have not|haven'?t|did not|didn'?t) (taken|made|done|performed|run|attempt(ed)?|tried|try|test(ed)?|measured|checked)\b"),
        (0.55, r"\bno (working |actual )?(proof[- ]of[- ]concept|poc|exploit) (yet|available|is available|at this time)|\bwithout (a |any )?(working )?(poc|proof|exploit)"),
        (0.5, r"\bif an attacker (were|was|had|could|manage[sd]?|gain(s|ed)?|compromise[sd]?|obtain|somehow)|\b(could|might|may) (potentially|possibly|theoretically|in principle)\b"),
        (0.45, r"\bit (may|might|could) be possible\b|\bpotentially (allow|lead|enable|expose|result)|\bin (certain|some|specific) (circumstances|conditions|scenarios)|\bworst[- ]case\b"),
        (0.6, r"nicht (getestet|verifiziert|überprüft|ausprobiert|bestätigt)|könnte (möglicherweise|eventuell|unter Umständen|theoretisch)|denkbar|unter bestimmten Umständen"),
        (0.6, r"no (lo )?(he|hemos) (probado|verificado|comprobado|explotado|confirmado|conseguido|logrado|podido)|podr[ií]a (potencialmente|posiblemente|en teor[ií]a|ser vulnerable|permitir|llegar a)|ser[ií]a posible|en ciertas (circunstancias|condiciones)|(sin|no tengo|no hay) (una )?(prueba de concepto|poc)"),
        (0.6, r"te[oó]ricamente|em teoria|poss[ií]vel (quebra|ataque|explora[çc][ãa]o)|poderia (permitir|levar|ser)|n[ãa]o (testei|verifiquei|confirmei|explorei)|theoretisch|zou (kunnen|mogelijk)|niet getest|mogelijk kwetsbaar"),
        (0.6, r"(検証|確認|実証|テスト|試)(は)?(して|しておりま|できて)(い)?ません|可能性(が)?(あります|があると|も|がある)|と考え|仮に|かもしれません|悪用できる可能性"),
        (0.4, r"\b(side[- ]channel|timing attack|race condition|quantum)\b"),
        (0.3, r"\bmight (be|allow|take|lead|let|enable)\b|\bpossible\b|\bposible\b|\bm[öo]gliche?r?\b"),
    ])
    # Out of scope: "Reports of outdated software versions without evidence of exploitation or
    # material risk".
    + _cues("outdated_version", [
        (0.8, r"\b(outdated|out[- ]of[- ]date|obsolete|old|older|legacy|deprecated|unsupported|unpatched|vulnerable|end[- ]of[- ]life|eol)\b" + _W + r"\b(versions?|releases?|software|builds?)\b"),
        (0.7, r"\bend[- ]of[- ](life|support)\b|(?-i:\bEOL\b)|no longer (supported|maintained)"),
        (0.55, r"\b(please )?(upgrade|update|patch)\b" + _W + r"\b(latest|newer|newest|current|recent|supported) (version|release)|\bupgrad(e|ing) to\b|\bupdat(e|ing) to (version |v)?\d"),
        (0.55, r"\b(more than |over )?(\d+|ten|five|several|many) years old\b|\b(published|public|known|several|numerous|multiple) (xss )?(cves|vulnerabilities|issues|exploits)\b|\b(is|are) (affected|vulnerable) (by|to) (cve|multiple|several|many)"),
        (0.55, r"\b[\d.]+\w* (to|through|-|bis|hasta|à) [\d.]+\w* (is|are|sind|est|son) (affected|vulnerable|betroffen|vulnérables?|afectad[oa]s?)|\bfixed in (version |v)?\d|\b(vulnerable|affected) (to|by) (regre\w+|CVE)"),
        (0.45, r"\b(nginx|apache|httpd|php|openssl|openssh|jquery|wordpress|iis|tomcat|bootstrap|angular(js)?|drupal|exim|postfix|node(\.js)?|django|rails|spring|log4j|struts|lodash|moment(\.js)?|react|vue|elasticsearch|redis|mysql|postgresql|windows server)[ /:-]?v?\d+\.\d+"),
        (0.8, r"veraltet\w*|nicht mehr unterstützt|alte(n)? Version|End[- ]of[- ]Life|Aktualisieren Sie"),
        (0.55, r"Update auf (Version )?\d|(zahlreiche|mehrere|bekannte)n? (CVEs|Schwachstellen|Sicherheitslücken)|stammt aus dem Jahr"),
        (0.8, r"desactualizad\w+|desatualizad\w+|non (è )?più supportat\w*|n[ãa]o (é )?mais suportad\w*|versione (obsoleta|vecchia|datata)|vers[ãa]o (antiga|obsoleta)|obsolet\w+|versi[oó]n (antigua|vieja|anterior)|fin de (vida|soporte)|sin soporte|versi[oó]n vulnerable|actualic\w+ a la|obsol[eè]te|version ancienne"),
        (0.8, r"古い(バージョン|版)|旧バージョン|サポート(が)?終了|最新(版|バージョン)(へ|に)(の)?(アップデート|更新|アップグレード)|バージョンが古"),
    ])
    # Not a report at all: the policy asks for "a clear and detailed report with enough
    # information to help us reproduce and verify the issue"; a question about rewards, a
    # request to publish, thanks, a sales pitch or a status question is none.
    + _cues("no_report", [
        (0.85, r"\b(reward|bount(y|ies)|payment|paid|pay|compensation|monetary|fee|price)\b" + _W + r"\bbefore\b" + _W + r"\b(shar|disclos|send|provid|report|giv|reveal|submit)|\bbefore\b" + _W + r"\b(shar|disclos|send|provid|report|reveal|giv)\w*" + _W + r"\b(reward|bount(y|ies)|pay|paid|compensat\w*)"),
        (0.75, r"\bdo you (offer|have|pay|provide|run)( a| any)? (bug )?(bount(y|ies)|rewards?|compensation|bug bounty)|\b(will|would|do) (i|you) (be )?(get )?(rewarded|paid|pay|compensated)|\bhow much (will|would|do|can) (you|i)|\beligible for (a )?(reward|bounty)|\bwhat (is|are|would be) (the|your) (reward|bounty|payout|compensation)"),
        (0.5, r"\bbug bounty\b|\bbounty\b|\breward\b"),
        (0.85, r"\b(permission|allowed|ok|okay|approval|consent)\b" + _W + r"\b(publish|disclose|blog|write about|present|talk about|share (it|this|the))|\b(publish|post|release)\b" + _W + r"\b(write-?up|blog post|article|advisory|my findings|my research|talk)"),
        (0.85, r"\bthank(s| you)\b" + _W + r"\b(fix|fixing|fixed|quick|fast|prompt|swift|resolv|reward|patch|handl|response|bounty|acknowledg)|\b(appreciate|appreciated)\b" + _W + r"\b(quick|fast|prompt|swift|fix|response)"),
        (0.85, r"\b(we|our (company|team|firm)|i) (offer|provide|specialize in|sell)s?\b" + _W + r"\b(penetration test|pentest|security (service|audit|assessment|testing|solution)|audit|consult)|\b(schedule|book|arrange|hop on|have) a (quick |short |brief )?(\d+[- ]?min(ute)?s? )?(call|demo|meeting|chat|consultation)\b|\boffers?\b" + _W + r"\b(penetration test\w*|pentest\w*|managed (security|vulnerability)|security (audits?|assessments?|services))|\b(free|complimentary|discounted)\b" + _W + r"\b(audit|assessment|scan|pentest|penetration test|consultation|scoping call)"),
        (0.8, r"\b(any )?(update|news|status|progress|feedback)\b" + _W + r"\b(on|about|regarding|of)\b" + _W + r"\b(my|the|our) (report|submission|finding|ticket|case|email|disclosure)|\b(have|has)(n't| not) (heard|received|got(ten)?) (back|anything|any (response|reply))"),
        (0.6, r"\bfollowing up on (my|the|our)\b|\bfollow-?up (on|to) (my|our) (report|submission|email)|\b(i|we) reported\b" + _W + r"\b(last|on|in|weeks?|months?|days?)\b"),
        (0.75, r"\bhall of fame\b|\bswag\b|\bt-?shirt\b|\b(certificate|letter) of (appreciation|recognition)|\b(my )?(resume|cv)\b|\b(job|position|internship|career) (application|opportunit|opening)|Bewerbung|solicitud de empleo|candidatura|candidature|応募|採用|求人"),
        (0.8, r"Belohnung|Prämie|Kopfgeld|Vergütung|Bug[- ]Bounty|bevor ich" + _W + r"(Details|Einzelheiten|Informationen)|Hall of Fame|vielen Dank für" + _W + r"(schnell|rasch|Behebung|Antwort)|(Stand|Status) (meiner|meines|der|des)" + _W + r"(Meldung|Berichts|Anfrage)|veröffentlichen dürfen|exklusives Angebot|unverbindlich\w* (Erstgespräch|Angebot|Beratung)|Festpreis|Wir bieten" + _W + r"(Penetrationstest|Sicherheits)"),
        (0.8, r"recompensa|gratificaci[oó]n|antes de (compartir|enviar|revelar|dar)" + _W + r"detalles|sal[oó]n de la fama|gracias por" + _W + r"(r[aá]pid|pront|soluci[oó]n|respuesta)|estado de (mi|nuestro) (reporte|informe|caso)|ofrecemos (servicios|auditor|pruebas)|permiso para publicar|(autoriza[çc][ãa]o|permiss[ãa]o|permesso|autorizzazione) (para|per|di|de) (publicar|pubblicare|divulgar|divulgare)|r[ée]compense|avant de (partager|divulguer)"),
        (0.8, r"報奨金|謝礼|報酬|バウンティ|(詳細|情報)(を|の)?(お送り|お伝え|共有|開示|提供)(する|いたす)前に|公開(して(も)?よろしい|の許可|させていただ)|殿堂|迅速な(ご)?対応|(進捗|対応状況)(を|について|は)|弊社(では)?.{0,30}(サービス|診断|ペネトレーション)"),
    ])
)

FORM, SUBSTANCE = True, False

# A reproduction, and its result: what makes a report more than a claim. ``concrete`` rows
# show one (steps, a request, a payload, what the researcher saw); the others name a class of
# vulnerability or describe a response, which a claim does too.
REPRODUCTION: tuple[Step, ...] = tuple(
    Step(w, concrete, form, _compile(p))
    for w, concrete, form, p in [
        (0.45, True, FORM, r"\bsteps to reproduce\b|\breproduction steps\b|\bto reproduce\b|\bproof[- ]of[- ]concept\b|(?-i:\bPoC\b)|Schritte zur Reproduktion|Reproduktionsschritte|Nachstellen|pasos para reproducir|prueba de concepto|[ée]tapes (pour|de) reproduction|再現(手順|方法)|検証コード"),
        (0.3, True, FORM, r"^\s*(\d+[.)]|step \d+|schritt \d+|paso \d+|手順\s*\d+|[①②③])\s*\S"),
        (0.6, True, SUBSTANCE, r"\b(i|we) (was|were|am|are) able to\b|\b(i|we) (could|managed to|successfully)\b(?!\s*(not|n't|never))|\bsuccessfully (accessed|read|retrieved|downloaded|modified|deleted|changed|executed|bypassed|obtained|took over)|(konnte ich|gelang es (mir|uns))(?![^.\n]{0,40}\bnicht\b)|(?<!no )(pude|logr[eé]|consegu[ií]|pudimos)\s+\w+|j'ai pu|(でき|成功し)ました"),
        (0.5, True, SUBSTANCE, r"\b(let|allowed|enabled) me (to )?(set|read|access|log|view|see|download|change|take|reset|obtain|retrieve|execute|run)|\bi (got|received|obtained|retrieved|gained) (a |an |the )?(valid |working |admin |full |their |another )?(session|access|token|shell|password|data|response|list|copy|cookie)|\b(returns?|returned|responds? with) (a |an |http )?([1-5]\d\d|json)\b"),
        # A request sent (a header check with "curl -I" is not one: it is what a best-practice report shows).
        (0.5, True, SUBSTANCE, r"^\s*[$#>]?\s*curl(?![^\n]*(\s-(-head|s?I|Is|s?D)\b|--dump-header|/dev/null))\s|^\s*[-*>]?\s*(GET|POST|PUT|PATCH|DELETE) (https?://|/)\S*"),
        (0.3, False, FORM, r"^\s*HTTP/[0-9.]+ [2345]\d\d"),
        # A heading that opens the steps: "Steps:", "What I did", "Schritte:", "再現手順".
        (0.4, True, FORM, r"^\W{0,4}(steps|repro(duction)?|what i did|how to reproduce|schritte|vorgehen|pasos|[ée]tapes|passos|passaggi|手順)\b[^\n]{0,30}$"),
        # What the researcher did and got: "I exploited it", "we retrieved the keys".
        (0.5, True, SUBSTANCE, r"\b(i|we) (then |also |successfully |actually )?(exploited|obtained|retrieved|extracted|exfiltrated|dumped|downloaded|accessed|reproduced|intercepted|hijacked|took over|logged in as|received (a|an|the|their|another))\b|(habe|hatte|haben) (ich|wir)\b[^.\n]{0,60}\b(erhalten|ausgelesen|abgerufen|übernommen|abgegriffen|reproduziert|ausgenutzt)|\b(erhielt|bekam) ich\b|(obtuve|extraje|descargu[eé]|acced[ií] a)\b"),
        # Secrets a proof shows (redacted or not).
        (0.4, True, SUBSTANCE, r"AccessKeyId|SecretAccessKey|AWS_SECRET|aws_access_key|BEGIN (RSA |OPENSSH |EC )?PRIVATE KEY|\beyJ[\w-]{10,}\.|\b(session|access|bearer|refresh)[ _-]?token[\"']?\s*[:=]"),
        (0.4, True, SUBSTANCE, r"<script|onerror\s*=|onload\s*=|javascript:alert|alert\(|' ?or ?'?1'? ?= ?'?1|union\s+select|\.\./\.\./|\{\{7\*7\}\}|\$\{jndi:|sleep\(\d+\)|/etc/passwd|169\.254\.169\.254"),
        (0.3, False, FORM, r"CVSS:[34]\.\d/|\bCWE-\d+"),
        (0.35, False, SUBSTANCE, r"\b(response|server) (returns?|returned|responds?|responded|contains?|contained|shows?|showed|leaks?|leaked|discloses?|disclosed|includes?)\b"),
        (0.4, False, FORM, r"\b(account takeover|idor|insecure direct object|sql injection|remote code execution|\brce\b|ssrf|xss|cross-site|authentication bypass|privilege escalation|path traversal)\b"),
    ]
)

# A report that says it did not exploit or test what it describes. Not "I did not use the
# keys": restraint after a reproduction is what careful researchers write.
NOT_REPRODUCED = re.compile(
    r"\b(i|we) (did not|didn'?t|have not|haven'?t|never|could not|couldn'?t) (yet )?(attempt(ed)? (to exploit|exploitation|an exploit|it|this)|exploit(ed)? (it|this|the)|test(ed)? (it|this|whether|if)|verif(y|ied) (it|this|whether|if|that)|reproduce[d]? (it|this|the))\b"
    r"|\b(no|without) (actual |active |real )?exploitation (was )?(attempted|performed|done|tried)|\b(has|have) not (been |yet )?(exploited|tested|verified|validated|confirmed)\b"
    r"|nicht (getestet|ausgenutzt|verifiziert|ausprobiert)|no (lo )?(he|hemos) (probado|explotado|verificado)|je n'ai pas (test|exploit|v[ée]rifi)"
    r"|(検証|確認|悪用|テスト)(は)?(して|しておりま)(い)?ません",
    re.IGNORECASE,
)

# A finding a tool made and the researcher then checked by hand: the scanner clause of the
# policy ("not manually validated") no longer applies.
MANUALLY_CHECKED = re.compile(
    r"\b(confirmed|verified|validated|reproduced|checked|tested|exploited)\b" + _W + r"\b(by hand|manually)\b"
    r"|\bmanual(ly)? (confirmed|verified|validated|reproduced|exploitation|testing|confirmation|verification|follow-?up)"
    r"|manuell (bestätigt|verifiziert|überprüft|nachvollzogen)|(confirm|verific|comprob)\w* (a mano|manualmente)|v[ée]rifi\w* (à la main|manuellement)|手動で(確認|検証)",
    re.IGNORECASE,
)
# fmt: on
