"""Fixed pools the generators draw from: Japanese names, places and office names.

The pools are part of the generator: changing any of them changes the rows a seed makes, so it
needs a new :data:`perfkit.datagen.entities.ENTITY_VERSION`. They are written out here, not
taken from a library at run time, so that an upgrade of a dependency can never change a
dataset silently, and drawing from them costs one list lookup per value. Surnames are among
Japan's most common; given names mix generations. Each name carries its romanization, used for
e-mail addresses.
"""

from __future__ import annotations

#: (surname, romanization)
SURNAMES: tuple[tuple[str, str], ...] = (
    ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"),
    ("伊藤", "ito"), ("渡辺", "watanabe"), ("山本", "yamamoto"), ("中村", "nakamura"),
    ("小林", "kobayashi"), ("加藤", "kato"), ("吉田", "yoshida"), ("山田", "yamada"),
    ("佐々木", "sasaki"), ("山口", "yamaguchi"), ("松本", "matsumoto"), ("井上", "inoue"),
    ("木村", "kimura"), ("林", "hayashi"), ("斎藤", "saito"), ("清水", "shimizu"),
    ("山崎", "yamazaki"), ("森", "mori"), ("池田", "ikeda"), ("橋本", "hashimoto"),
    ("阿部", "abe"), ("石川", "ishikawa"), ("山下", "yamashita"), ("中島", "nakajima"),
    ("石井", "ishii"), ("小川", "ogawa"), ("前田", "maeda"), ("岡田", "okada"),
    ("長谷川", "hasegawa"), ("藤田", "fujita"), ("後藤", "goto"), ("近藤", "kondo"),
    ("村上", "murakami"), ("遠藤", "endo"), ("青木", "aoki"), ("坂本", "sakamoto"),
    ("斉藤", "saito"), ("福田", "fukuda"), ("太田", "ota"), ("西村", "nishimura"),
    ("藤井", "fujii"), ("金子", "kaneko"), ("岡本", "okamoto"), ("藤原", "fujiwara"),
    ("中野", "nakano"), ("三浦", "miura"), ("原田", "harada"), ("中川", "nakagawa"),
    ("松田", "matsuda"), ("竹内", "takeuchi"), ("小野", "ono"), ("田村", "tamura"),
    ("中山", "nakayama"), ("和田", "wada"), ("石田", "ishida"), ("森田", "morita"),
    ("上田", "ueda"), ("原", "hara"), ("内田", "uchida"), ("柴田", "shibata"),
    ("酒井", "sakai"), ("宮崎", "miyazaki"), ("横山", "yokoyama"), ("高木", "takagi"),
    ("安藤", "ando"), ("宮本", "miyamoto"), ("大野", "ono"), ("小島", "kojima"),
    ("谷口", "taniguchi"), ("今井", "imai"), ("工藤", "kudo"), ("高田", "takada"),
    ("増田", "masuda"), ("丸山", "maruyama"), ("杉山", "sugiyama"), ("村田", "murata"),
    ("大塚", "otsuka"), ("小山", "koyama"), ("藤本", "fujimoto"), ("平野", "hirano"),
    ("新井", "arai"), ("河野", "kono"), ("上野", "ueno"), ("野口", "noguchi"),
    ("武田", "takeda"), ("松井", "matsui"), ("千葉", "chiba"), ("岩崎", "iwasaki"),
    ("菅原", "sugawara"), ("木下", "kinoshita"), ("久保", "kubo"), ("佐野", "sano"),
    ("野村", "nomura"), ("松尾", "matsuo"), ("市川", "ichikawa"), ("菊地", "kikuchi"),
)  # fmt: skip

#: (given name, romanization), women's and men's names of several generations.
GIVEN_NAMES: tuple[tuple[str, str], ...] = (
    ("太郎", "taro"), ("一郎", "ichiro"), ("健太", "kenta"), ("翔太", "shota"),
    ("大輔", "daisuke"), ("拓也", "takuya"), ("直樹", "naoki"), ("健一", "kenichi"),
    ("誠", "makoto"), ("浩", "hiroshi"), ("隆", "takashi"), ("剛", "tsuyoshi"),
    ("亮", "ryo"), ("蓮", "ren"), ("湊", "minato"), ("陽翔", "haruto"),
    ("悠真", "yuma"), ("大翔", "hiroto"), ("颯太", "sota"), ("優斗", "yuto"),
    ("和也", "kazuya"), ("達也", "tatsuya"), ("修", "osamu"), ("茂", "shigeru"),
    ("勇", "isamu"), ("清", "kiyoshi"), ("博", "hiroshi"), ("進", "susumu"),
    ("正雄", "masao"), ("昭", "akira"),
    ("花子", "hanako"), ("陽子", "yoko"), ("恵子", "keiko"), ("裕子", "yuko"),
    ("美香", "mika"), ("由美", "yumi"), ("直美", "naomi"), ("智子", "tomoko"),
    ("久美子", "kumiko"), ("真由美", "mayumi"), ("愛", "ai"), ("彩", "aya"),
    ("結衣", "yui"), ("美咲", "misaki"), ("葵", "aoi"), ("陽菜", "hina"),
    ("結菜", "yuna"), ("凛", "rin"), ("芽依", "mei"), ("さくら", "sakura"),
    ("千尋", "chihiro"), ("明美", "akemi"), ("幸子", "sachiko"), ("和子", "kazuko"),
    ("洋子", "yoko"), ("京子", "kyoko"), ("節子", "setsuko"), ("春香", "haruka"),
    ("菜々子", "nanako"), ("優子", "yuko"),
)  # fmt: skip

#: (prefecture, city or ward, telephone area code)
PLACES: tuple[tuple[str, str, str], ...] = (
    ("東京都", "世田谷区", "03"), ("東京都", "練馬区", "03"), ("東京都", "八王子市", "042"),
    ("神奈川県", "横浜市港北区", "045"), ("神奈川県", "川崎市中原区", "044"),
    ("大阪府", "大阪市北区", "06"), ("大阪府", "堺市堺区", "072"),
    ("愛知県", "名古屋市中区", "052"), ("福岡県", "福岡市博多区", "092"),
    ("北海道", "札幌市中央区", "011"), ("宮城県", "仙台市青葉区", "022"),
    ("広島県", "広島市中区", "082"), ("京都府", "京都市左京区", "075"),
    ("兵庫県", "神戸市中央区", "078"), ("埼玉県", "さいたま市浦和区", "048"),
    ("千葉県", "千葉市中央区", "043"), ("静岡県", "静岡市葵区", "054"),
    ("新潟県", "新潟市中央区", "025"), ("熊本県", "熊本市中央区", "096"),
    ("沖縄県", "那覇市", "098"),
)  # fmt: skip

#: Town names for street addresses.
TOWNS: tuple[str, ...] = (
    "本町", "中央", "栄町", "緑町", "旭町", "幸町", "若葉", "桜台", "東町", "西町",
    "南町", "北町", "宮前", "新町", "泉町", "松原",
)  # fmt: skip

#: The friendly part of an office's name.
OFFICE_BRANDS: tuple[str, ...] = (
    "ひまわり", "さくら", "あおば", "みらい", "つばさ", "なごみ", "ひだまり", "こもれび",
    "すまいる", "はばたき", "かがやき", "やまびこ", "わかば", "せせらぎ", "ふれあい", "たんぽぽ",
)  # fmt: skip

#: Kinds of disability-welfare service an office provides.
SERVICE_KINDS: tuple[str, ...] = (
    "就労継続支援B型事業所", "就労継続支援A型事業所", "就労移行支援事業所",
    "生活介護事業所", "共同生活援助事業所", "相談支援事業所",
)  # fmt: skip

#: The domain of every generated e-mail address (reserved for examples by RFC 2606).
EMAIL_DOMAIN = "example.com"

#: One shared bcrypt-format string for every generated staff member: test data needs a
#: well-formed value, not a real password, and hashing per row would dominate generation time.
HASHED_PASSWORD = "$2b$12$perfkit.test.data.not.a.real.password.hash.0000000000"  # noqa: S105
