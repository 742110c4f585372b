<?php
// Writes Composer's own minify and expand of a list of versions:
// php minify.php INPUT.json → INPUT's .minified.json and .expanded.json.
require getenv("COMPOSER_MINIFIER_AUTOLOAD") ?: "/usr/share/php/Composer/MetadataMinifier/autoload.php";
use Composer\MetadataMinifier\MetadataMinifier;
$in = $argv[1];
$base = preg_replace('{\.input\.json$}', '', $in);
$versions = json_decode(file_get_contents($in), true);
$flags = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE;
$min = MetadataMinifier::minify($versions);
file_put_contents($base . '.minified.json', json_encode($min, $flags) . "\n");
file_put_contents($base . '.expanded.json', json_encode(MetadataMinifier::expand($min), $flags) . "\n");
