/**
 * The flasher stubs Espressif's tools ship, recognised by content: the
 * SHA-256 of the decoded `text` segment, where it loads and where it starts.
 * Only digests and addresses are kept here, never the images.
 *
 * How the table was made: the stub JSON files of espressif/esptool at every
 * release tag v4.0 … v5.3.1 and master bb72741 (2026-08-20) were read with
 * `git show <tag>:esptool/stub_flasher.py` (v4.0–v4.2, zlib+base64 literals),
 * `esptool/targets/stub_flasher/stub_flasher_<chip>.json` (v4.3–v4.7.0) and
 * `esptool/targets/stub_flasher/{1,2}/<chip>.json` (v4.8.0 on; the README next
 * to them names the stub release), the same for espressif/esptool-js tags
 * v0.2.0 … v0.6.1 (`src/targets/stub_flasher/`) and the esptool-js 0.7.0
 * package; `text` was base64-decoded and hashed exactly as recogniseStub does.
 * esptool v3.x and chips the simulator does not model are left out.
 */
import { createHash } from 'node:crypto';
import { type ChipName } from './chips/types.js';
import {
  ESP_FLASHER_STUB,
  ESP_FLASHER_STUB_SKELETON,
  ESP_FLASHER_STUB_SKIP_BLANK,
  ESP_FLASHER_STUB_V0_2,
  ESP_RS_STUB,
  LEGACY_STUB,
  type StubBehaviour,
  type StubFamily,
} from './stub-behaviour.js';

/** A flasher stub the simulator recognises by the SHA-256 of its decoded `text` segment. */
export interface KnownStub {
  chip: ChipName;
  family: StubFamily;
  /** The stub release, as its own repository tags it. */
  release: string;
  /** The tool releases that ship this exact image. */
  shippedIn: string;
  textSha256: string;
  textStart: number;
  entry: number;
  behaviour: StubBehaviour;
}

/** One row: chip, behaviour, stub release, tools that ship it, text SHA-256, text start, entry. */
type Row = readonly [ChipName, StubBehaviour, string, string, string, number, number];

// Generated from the tags listed above; one image per row, oldest release first.
// prettier-ignore
const ROWS: readonly Row[] = [
  // esptool v4.0 flasher_stub: LEGACY_STUB
  ['esp8266', LEGACY_STUB, 'esptool v4.0 flasher_stub', 'esptool v4.0–v4.4; esptool-js v0.2.0–v0.2.1', 'b2ceb3802e0b60460fe263e2dd4b850eda643a16b1254bbda88a70ff726f076f', 0x4010d000, 0x4010d004],
  ['esp32', LEGACY_STUB, 'esptool v4.0 flasher_stub', 'esptool v4.0–v4.4', '714add0aec6b01afab370e35e194c0cf0cd788ceb20d136e250fbcb17e205713', 0x400be000, 0x400be5ac],
  ['esp32s2', LEGACY_STUB, 'esptool v4.0 flasher_stub', 'esptool v4.0–v4.3', '6dbf21df579fb418894e96cd6c33f7fe5ac4caf9abd060d6f7513d1d5bca7cb8', 0x40028000, 0x40028760],
  ['esp32s3', LEGACY_STUB, 'esptool v4.0 flasher_stub', 'esptool v4.0–v4.3', '93d9b3e05bf85a953710bdbbe9086f05078510f1e5cb82136e1b364d881c9dc8', 0x40378000, 0x40378988],
  ['esp32c3', LEGACY_STUB, 'esptool v4.0 flasher_stub', 'esptool v4.0–v4.3', 'e57302bc9e1a21ce7f7a4f1f2341813546e110858e72a502637b4e6b5e83b8b9', 0x40380000, 0x40380670],
  // esptool v4.3 flasher_stub: LEGACY_STUB
  ['esp32c6', LEGACY_STUB, 'esptool v4.3 flasher_stub', 'esptool v4.3–v4.4', 'f963de953050b4cb56efe4d80016f166e7639028ea2264db83db8e7e038442a9', 0x40800000, 0x408005d0],
  // esptool v4.4 flasher_stub: LEGACY_STUB
  ['esp32s2', LEGACY_STUB, 'esptool v4.4 flasher_stub', 'esptool v4.4', 'ad404bdd6e3076d65df4fa7214b03cbaef2da43071889603819e6c6b2b3b6a1e', 0x40028000, 0x400287c4],
  ['esp32s3', LEGACY_STUB, 'esptool v4.4 flasher_stub', 'esptool v4.4', 'aed34ac4912c2d3a223e4b75805eed22f3cd5f14e6ab1fb4f7aa684c80868a4e', 0x40378000, 0x40378a0c],
  ['esp32c3', LEGACY_STUB, 'esptool v4.4 flasher_stub', 'esptool v4.4', 'cc92ccb7856ad126fc4c213607a02aef181069976694a74703994f101698bcd8', 0x40380000, 0x403806b2],
  // esptool v4.5 flasher_stub: LEGACY_STUB
  ['esp8266', LEGACY_STUB, 'esptool v4.5 flasher_stub', 'esptool v4.5–v4.6.1; esptool-js v0.2.2–v0.4.7', '9c3813f9ba2961606809e106a0d736a490c500808b8c059667015ce3ddcd5b8c', 0x4010d000, 0x4010d004],
  ['esp32', LEGACY_STUB, 'esptool v4.5 flasher_stub', 'esptool v4.5–v4.6.1; esptool-js v0.2.2–v0.4.7', 'f9ee6d32910742396702ba75f8b6c5c260c0ce529febb1c06557f60c050ad405', 0x400be000, 0x400be5d8],
  ['esp32s2', LEGACY_STUB, 'esptool v4.5 flasher_stub', 'esptool v4.5–v4.6.1; esptool-js v0.2.2–v0.4.7', 'fbc2cb7b4c4eaead5117fdee73f93fd139e34894662e3623815536b3103ebcf6', 0x40028000, 0x400287f0],
  ['esp32s3', LEGACY_STUB, 'esptool v4.5 flasher_stub', 'esptool v4.5', 'b5aab826daaa4c0604f843017b0cf4dc85adc0995094a22bd5590bbaf23198a1', 0x40378000, 0x40378ab8],
  ['esp32c3', LEGACY_STUB, 'esptool v4.5 flasher_stub', 'esptool v4.5–v4.5.1', 'cc77765ac5de9d96b191b944a8df8892919bbbdbf605dcf049b57f68f5bc932f', 0x40380000, 0x4038069c],
  ['esp32c6', LEGACY_STUB, 'esptool v4.5 flasher_stub', 'esptool v4.5–v4.5.1', '6ff4a5afb6af35522185741cd2be1cbc8c025209b33920ff046771ac42f1ab41', 0x40800000, 0x40800690],
  // esptool v4.5.1 flasher_stub: LEGACY_STUB
  ['esp32s3', LEGACY_STUB, 'esptool v4.5.1 flasher_stub', 'esptool v4.5.1', 'efe677704d38cf4fab33aa83da1e3ec42cc16384aeb57b54ac01a76508244348', 0x40378000, 0x40378a34],
  // esptool v4.6 flasher_stub: LEGACY_STUB
  ['esp32s3', LEGACY_STUB, 'esptool v4.6 flasher_stub', 'esptool v4.6', 'cc010e84c942df1d2a110d79e25ddbe86f2b5978ae354d064805313a816e1fac', 0x40378000, 0x40378a40],
  ['esp32c3', LEGACY_STUB, 'esptool v4.6 flasher_stub', 'esptool v4.6–v4.6.1; esptool-js v0.2.2–v0.4.7', '26263ecc47695523af4fb82fe9d619425c56603481ce367a6d148dd2b40b789c', 0x40380000, 0x4038069c],
  ['esp32c6', LEGACY_STUB, 'esptool v4.6 flasher_stub', 'esptool v4.6–v4.6.1; esptool-js v0.2.2–v0.4.7', '7718ea5e2386035fdcbf6dc537962ea76a01fdfdb3ae17746f52cef08ca50d80', 0x40800000, 0x40800690],
  // esptool v4.6.1 flasher_stub: LEGACY_STUB
  ['esp32s3', LEGACY_STUB, 'esptool v4.6.1 flasher_stub', 'esptool v4.6.1; esptool-js v0.2.2–v0.4.7', 'eef3ceab080348909440b926028802fd7a0ac98014f9410b3bd2fffa31acb772', 0x40378000, 0x40378a40],
  // esptool v4.6.2 flasher_stub: LEGACY_STUB
  ['esp8266', LEGACY_STUB, 'esptool v4.6.2 flasher_stub', 'esptool v4.6.2–v5.1.0; esptool-js v0.5.0–v0.6.1', '0914cbde7b50fb4a4648795d83d4181f808a99073640cdcee6e4dfa958855cef', 0x4010d000, 0x4010d004],
  ['esp32', LEGACY_STUB, 'esptool v4.6.2 flasher_stub', 'esptool v4.6.2', 'be454e2ca573cbc2a32973f6c7090f7abb0e80e8681e69d645b8593f83581397', 0x400be000, 0x400be5d8],
  ['esp32s2', LEGACY_STUB, 'esptool v4.6.2 flasher_stub', 'esptool v4.6.2', '02a7f944af8e4f402f45320ef5f1c8cd726c108255d29056d5154772de34ce8a', 0x40028000, 0x400287f0],
  ['esp32s3', LEGACY_STUB, 'esptool v4.6.2 flasher_stub', 'esptool v4.6.2', 'de97c292d7b38d2509e2e8038ed09eb25aa99b4e938c08321763603020555d3d', 0x40378000, 0x40378a40],
  ['esp32c3', LEGACY_STUB, 'esptool v4.6.2 flasher_stub', 'esptool v4.6.2', '28d9137a78be7c6fdb21e373b437646329b157d723e49370e9cbe25f0b1d912d', 0x40380000, 0x4038069c],
  ['esp32c6', LEGACY_STUB, 'esptool v4.6.2 flasher_stub', 'esptool v4.6.2', '72bf558338834d1a226d046285ea0411e842a9bbcc803d4dfe3e1bd374eab92a', 0x40800000, 0x40800690],
  // esptool v4.7.0 flasher_stub: LEGACY_STUB
  ['esp32', LEGACY_STUB, 'esptool v4.7.0 flasher_stub', 'esptool v4.7.0–v4.8.1; esptool-js v0.5.0–v0.6.1', 'c3d3ddfa74e6b41710863f07a2d0496bb6f758a2011bf1d9cdd5b280479db6b9', 0x400be000, 0x400be5ec],
  ['esp32s2', LEGACY_STUB, 'esptool v4.7.0 flasher_stub', 'esptool v4.7.0–v4.8.1; esptool-js v0.5.0–v0.6.1', '3f8ebfc154b61aec48660e0915f81a2f55d0bd6447c391470b8cbb3a69089c4a', 0x40028000, 0x40028804],
  ['esp32s3', LEGACY_STUB, 'esptool v4.7.0 flasher_stub', 'esptool v4.7.0', '1312e30abc10f7cb2cb040a5c55ca346a1f8a80ec1e1504d21748aabb2d257e2', 0x40378000, 0x40378a50],
  ['esp32c3', LEGACY_STUB, 'esptool v4.7.0 flasher_stub', 'esptool v4.7.0', 'fad3826d199441ba3c38af2c6bc34a9d45fb98035a60372798a8557968dd6563', 0x40380000, 0x4038069c],
  ['esp32c6', LEGACY_STUB, 'esptool v4.7.0 flasher_stub', 'esptool v4.7.0', '554c249753d9034f827141b38c55f6b0f5f60b0ce2636a1e0ace47453152c813', 0x40800000, 0x40800690],
  // esp-rs/esp-flasher-stub v0.3.0: ESP_RS_STUB
  ['esp32', ESP_RS_STUB, 'esp-rs/esp-flasher-stub v0.3.0', 'esptool v4.8.0–v4.11.0 stub_flasher/2', '598f3489598eee28038646f1e5d84e3836f99785e3cb04206754e41a6c1d11db', 0x40080000, 0x400822b4],
  ['esp32s2', ESP_RS_STUB, 'esp-rs/esp-flasher-stub v0.3.0', 'esptool v4.8.0–v4.11.0 stub_flasher/2', '8752de61ad581f318b3f4342ea50512904da3346cd12d856a35403889b7a9d1c', 0x40028000, 0x40029d34],
  ['esp32s3', ESP_RS_STUB, 'esp-rs/esp-flasher-stub v0.3.0', 'esptool v4.8.0–v4.11.0 stub_flasher/2', 'af2c211be160d0711309204998c2e29fbf5fea5f2ad08e293cea3063172e5717', 0x40378000, 0x4037afa4],
  ['esp32c3', ESP_RS_STUB, 'esp-rs/esp-flasher-stub v0.3.0', 'esptool v4.8.0–v4.11.0 stub_flasher/2', '2ec86fe200dc02457db190a6bae4c273ec2282432edd916d1e36b27bddb633ea', 0x40380000, 0x40380000],
  ['esp32c6', ESP_RS_STUB, 'esp-rs/esp-flasher-stub v0.3.0', 'esptool v4.8.0–v4.11.0 stub_flasher/2', '14e3ac67cb0059368bf34174d43e84c35e3991f97a1b8ea2737be5e9e772ce7a', 0x40800000, 0x40800000],
  // esptool-legacy-flasher-stub v1.3.0: LEGACY_STUB
  ['esp32s3', LEGACY_STUB, 'esptool-legacy-flasher-stub v1.3.0', 'esptool v4.8.0–v4.8.1 stub_flasher/1; esptool-js v0.5.0–v0.6.1', '14ab7c0beb0520624f7c14f4547f9c42657e651f50c19106cb510477751c8e29', 0x40378000, 0x40378a80],
  ['esp32c3', LEGACY_STUB, 'esptool-legacy-flasher-stub v1.3.0', 'esptool v4.8.0–v4.8.1 stub_flasher/1; esptool-js v0.5.0–v0.6.1', '9b8c66b2975c18c28464869050541b847e683fe0b5345b3163176ee55c7372f7', 0x40380000, 0x403806d0],
  ['esp32c6', LEGACY_STUB, 'esptool-legacy-flasher-stub v1.3.0', 'esptool v4.8.0–v4.8.1 stub_flasher/1; esptool-js v0.5.0–v0.6.1', '13945b5c8a9c64fde3d30403e59b03e7238c4e6666f65e246e3491c22f65567b', 0x40800000, 0x408006c4],
  // esptool-legacy-flasher-stub v1.6.0: LEGACY_STUB
  ['esp32', LEGACY_STUB, 'esptool-legacy-flasher-stub v1.6.0', 'esptool v4.9.0–v5.1.0 stub_flasher/1', 'cb3d09de6574cd008ea3e6a366bb1f26218b8735d4fbf80fb264fc92aad69d5c', 0x400be000, 0x400be5e0],
  ['esp32s2', LEGACY_STUB, 'esptool-legacy-flasher-stub v1.6.0', 'esptool v4.9.0–v5.1.0 stub_flasher/1', '51395ec23420ce4a24e15fbb10ba738efcc023955208ac87cf34e84e5f2c49e2', 0x40028000, 0x40028828],
  ['esp32s3', LEGACY_STUB, 'esptool-legacy-flasher-stub v1.6.0', 'esptool v4.9.0–v5.1.0 stub_flasher/1', '8005eb23ecb37673850235bb1b98c08e8e4316d4d4d5fb7be7d4e1f1b20a233f', 0x40378000, 0x40378adc],
  ['esp32c3', LEGACY_STUB, 'esptool-legacy-flasher-stub v1.6.0', 'esptool v4.9.0–v5.1.0 stub_flasher/1', '038d23b30e756ad852ae8fb116e1d76c8684ee77f9b021d0a336aa8436b054fa', 0x40380000, 0x40380620],
  ['esp32c6', LEGACY_STUB, 'esptool-legacy-flasher-stub v1.6.0', 'esptool v4.9.0–v5.1.0 stub_flasher/1', 'b870a09308e54ee6c1f8de2ab09805d6b56995de23a1550e52f89aa859025dd6', 0x40800000, 0x40800610],
  // esptool-legacy-flasher-stub v1.11.1: LEGACY_STUB
  ['esp8266', LEGACY_STUB, 'esptool-legacy-flasher-stub v1.11.1', 'esptool v4.11.0–master (2026-07) stub_flasher/1', '4dd755cefff7947b6a93f3acabcf7bda1b06630d5ad324022a7cfe4f07114ea8', 0x4010d000, 0x4010d004],
  ['esp32', LEGACY_STUB, 'esptool-legacy-flasher-stub v1.11.1', 'esptool v4.11.0–master (2026-07) stub_flasher/1', 'b2dff40d626d2e83234ba17f79ab968cf5505cf989d15f9954ed477777eeddad', 0x400be000, 0x400be658],
  ['esp32s2', LEGACY_STUB, 'esptool-legacy-flasher-stub v1.11.1', 'esptool v4.11.0–master (2026-07) stub_flasher/1', 'e9ceeffe0ef179759c797aaffbc2eb63fc6926adea980ad1d295b8652b2278f3', 0x40028000, 0x400288ac],
  ['esp32s3', LEGACY_STUB, 'esptool-legacy-flasher-stub v1.11.1', 'esptool v4.11.0–master (2026-07) stub_flasher/1', '4f2db4cfaa9938d03537519d95081372f8b833dfcf2ae8fb47fc90425cb853d3', 0x40378000, 0x40378c94],
  ['esp32c3', LEGACY_STUB, 'esptool-legacy-flasher-stub v1.11.1', 'esptool v4.11.0–master (2026-07) stub_flasher/1', '857660860ee353699c11c6dfc82d3bfd0bcfa7890c8c9b5fc84f1a551f1f5003', 0x40380000, 0x403806d2],
  ['esp32c6', LEGACY_STUB, 'esptool-legacy-flasher-stub v1.11.1', 'esptool v4.11.0–master (2026-07) stub_flasher/1', '05bd47f6c34739cef5cf9680517cc73c6934cabffc9c3b1b37a68ba445bc5cd3', 0x40800000, 0x408006c2],
  // esp-flasher-stub v0.7.0: ESP_FLASHER_STUB
  ['esp8266', ESP_FLASHER_STUB, 'esp-flasher-stub v0.7.0', 'esptool v4.12.0 stub_flasher/2', '2232e5bd33edbc8ef0f69b13ee85292f8a574e2076ecf6d1f01a954fa2bec06f', 0x4010c500, 0x4010c504],
  ['esp32', ESP_FLASHER_STUB, 'esp-flasher-stub v0.7.0', 'esptool v4.12.0 stub_flasher/2', 'a26cb834d49aac7b6ec68463a613e432738ba5485ef105ad10187e9243be634e', 0x400a8000, 0x400a800c],
  ['esp32s2', ESP_FLASHER_STUB, 'esp-flasher-stub v0.7.0', 'esptool v4.12.0 stub_flasher/2', 'f038186b9984b8767654ef1bd8da8d1b9db939762f2cb07a5854dcf0c1f8909f', 0x40028000, 0x4002800c],
  ['esp32s3', ESP_FLASHER_STUB, 'esp-flasher-stub v0.7.0', 'esptool v4.12.0 stub_flasher/2', '911d584127cbbecef6661d60aa0ff97357add29153fff10d98e700fb76f05b71', 0x40378000, 0x4037800c],
  ['esp32c3', ESP_FLASHER_STUB, 'esp-flasher-stub v0.7.0', 'esptool v4.12.0 stub_flasher/2', '7124f0cefa06620297d0254cedae09fa3646d366f32a972d9a77a56d3a0b0f6e', 0x40380000, 0x40380000],
  ['esp32c6', ESP_FLASHER_STUB, 'esp-flasher-stub v0.7.0', 'esptool v4.12.0 stub_flasher/2', '2026ea3d4f65af9017e1da5341698d077f7b9a2e1837c286b5cba6d300dbcfcf', 0x40800000, 0x40800000],
  // esp-flasher-stub v0.1.0: ESP_FLASHER_STUB_SKELETON
  ['esp8266', ESP_FLASHER_STUB_SKELETON, 'esp-flasher-stub v0.1.0', 'esptool v5.0.0–v5.1.0 stub_flasher/2', 'a33da6c072e0c316fb27bc732fb7a7e4bd7c3f7ec94e7f60a0906df7a1994d3e', 0x4010d000, 0x4010d004],
  ['esp32', ESP_FLASHER_STUB_SKELETON, 'esp-flasher-stub v0.1.0', 'esptool v5.0.0–v5.1.0 stub_flasher/2', 'a141cc2354cf0f2c76c919f8a459377d70036128fc60514488803a38c00c2f73', 0x400be000, 0x400be000],
  ['esp32s2', ESP_FLASHER_STUB_SKELETON, 'esp-flasher-stub v0.1.0', 'esptool v5.0.0–v5.1.0 stub_flasher/2', 'a141cc2354cf0f2c76c919f8a459377d70036128fc60514488803a38c00c2f73', 0x40028000, 0x40028000],
  ['esp32s3', ESP_FLASHER_STUB_SKELETON, 'esp-flasher-stub v0.1.0', 'esptool v5.0.0–v5.1.0 stub_flasher/2', 'a141cc2354cf0f2c76c919f8a459377d70036128fc60514488803a38c00c2f73', 0x40378000, 0x40378000],
  ['esp32c3', ESP_FLASHER_STUB_SKELETON, 'esp-flasher-stub v0.1.0', 'esptool v5.0.0–v5.1.0 stub_flasher/2', 'b0dec2ed283469794ae6a7da04427f4caf2914be22636f648e9bb9f8d931448c', 0x40380000, 0x40380000],
  ['esp32c6', ESP_FLASHER_STUB_SKELETON, 'esp-flasher-stub v0.1.0', 'esptool v5.0.0–v5.1.0 stub_flasher/2', 'b0dec2ed283469794ae6a7da04427f4caf2914be22636f648e9bb9f8d931448c', 0x40800000, 0x40800000],
  // esp-flasher-stub v0.2.0: ESP_FLASHER_STUB_V0_2
  ['esp8266', ESP_FLASHER_STUB_V0_2, 'esp-flasher-stub v0.2.0', 'esptool v5.2.0 stub_flasher/2', '52b4349ba7ee21b0e894ce7f311c2e80bccfa7b4535caa7733c7d3e995a75ef0', 0x4010c500, 0x4010c504],
  ['esp32', ESP_FLASHER_STUB_V0_2, 'esp-flasher-stub v0.2.0', 'esptool v5.2.0 stub_flasher/2', '2215dfaddde601469196344e78246d04d1828f2a478087248ad8800151d97696', 0x400a8000, 0x400a800c],
  ['esp32s2', ESP_FLASHER_STUB_V0_2, 'esp-flasher-stub v0.2.0', 'esptool v5.2.0 stub_flasher/2', '7052c6601fa6302fd6cf1b6899535fb083aa1b352671d030cab7469d90b1026d', 0x40028000, 0x4002800c],
  ['esp32s3', ESP_FLASHER_STUB_V0_2, 'esp-flasher-stub v0.2.0', 'esptool v5.2.0 stub_flasher/2', '6b4d0069dded0b104a2caecc955c4ab8568f17c81a1b3363429f83d8d4915490', 0x40378000, 0x4037800c],
  ['esp32c3', ESP_FLASHER_STUB_V0_2, 'esp-flasher-stub v0.2.0', 'esptool v5.2.0 stub_flasher/2', 'a086a30ba56e32d9632a4c625d40f17e08ba09c20c917c9dfe5c55676cef46ef', 0x40380000, 0x40380000],
  ['esp32c6', ESP_FLASHER_STUB_V0_2, 'esp-flasher-stub v0.2.0', 'esptool v5.2.0 stub_flasher/2', '29e7563ee5a9e57e34a04a4fb3ad3d87193bf83dee4e81d1e5d766f348da54eb', 0x40800000, 0x40800000],
  // esp-flasher-stub v0.8.1 (= v1.0.0): ESP_FLASHER_STUB
  ['esp8266', ESP_FLASHER_STUB, 'esp-flasher-stub v0.8.1 (= v1.0.0)', 'esptool v5.3.0–v5.3.1 stub_flasher/2', '3d315cf8155a78db13e4ef90e26b2dc3fd95d7762e1102cdfb663d8f7a7c44d5', 0x4010c500, 0x4010c504],
  ['esp32', ESP_FLASHER_STUB, 'esp-flasher-stub v0.8.1 (= v1.0.0)', 'esptool v5.3.0–v5.3.1 stub_flasher/2', '59c217e201a5910c15a0f202f2852c8ea44b7406bbf227e2cd6e88fd6a2a75af', 0x400a8000, 0x400a9074],
  ['esp32s2', ESP_FLASHER_STUB, 'esp-flasher-stub v0.8.1 (= v1.0.0)', 'esptool v5.3.0–v5.3.1 stub_flasher/2', '1e7edee974ecae1194882eff73d7b230e89c9db126e2a527ee628f9347b3a7d6', 0x40028000, 0x40029144],
  ['esp32s3', ESP_FLASHER_STUB, 'esp-flasher-stub v0.8.1 (= v1.0.0)', 'esptool v5.3.0–v5.3.1 stub_flasher/2', 'd0f85e42389e8f5fba03e47444d9fab43e59c2dcd6649059fb22ab69c54f5cdd', 0x40378000, 0x40379474],
  ['esp32c3', ESP_FLASHER_STUB, 'esp-flasher-stub v0.8.1 (= v1.0.0)', 'esptool v5.3.0–v5.3.1 stub_flasher/2', '3197a9e051fd53da0fe3e39d9aded139e5386f50edfc8af998382b065a173c35', 0x40380000, 0x40380f2e],
  ['esp32c6', ESP_FLASHER_STUB, 'esp-flasher-stub v0.8.1 (= v1.0.0)', 'esptool v5.3.0–v5.3.1 stub_flasher/2', '9d59894c5e83672666d0331f1358b9fde5614530ac65df22701fbf6817915804', 0x40800000, 0x40801252],
  // esp-flasher-stub v1.2.2: ESP_FLASHER_STUB_SKIP_BLANK
  ['esp8266', ESP_FLASHER_STUB_SKIP_BLANK, 'esp-flasher-stub v1.2.2', 'esptool master (2026-07) stub_flasher/2; esptool-js v0.7.0', '37c16091ff165ffe760353a8e92d07f55927e34d01fb5fc04c18b5525c13f8f6', 0x4010c500, 0x4010c504],
  ['esp32', ESP_FLASHER_STUB_SKIP_BLANK, 'esp-flasher-stub v1.2.2', 'esptool master (2026-07) stub_flasher/2; esptool-js v0.7.0', 'fc5fb606754d152b9b9e4f20c72fdad83d1d99b1b139744bc53cc160b1edd570', 0x400a8000, 0x400a902c],
  ['esp32s2', ESP_FLASHER_STUB_SKIP_BLANK, 'esp-flasher-stub v1.2.2', 'esptool master (2026-07) stub_flasher/2; esptool-js v0.7.0', '2f9d78912aabf158d013c6162becdd85967dd4794032012f3600228cddec5ef9', 0x40028000, 0x400290a4],
  ['esp32s3', ESP_FLASHER_STUB_SKIP_BLANK, 'esp-flasher-stub v1.2.2', 'esptool master (2026-07) stub_flasher/2; esptool-js v0.7.0', 'c37a7d12d52633fd629fbed13f3a7418216af368d8e80f17853ce6de29741374', 0x40378000, 0x40379524],
  ['esp32c3', ESP_FLASHER_STUB_SKIP_BLANK, 'esp-flasher-stub v1.2.2', 'esptool master (2026-07) stub_flasher/2; esptool-js v0.7.0', 'c06cc1a34a02d8f8755692cf89843b388978d19a255b0d9c26b10a0f41a90ffb', 0x40380000, 0x40380e9a],
  ['esp32c6', ESP_FLASHER_STUB_SKIP_BLANK, 'esp-flasher-stub v1.2.2', 'esptool master (2026-07) stub_flasher/2; esptool-js v0.7.0', '904a314959d712695b699b08873a428c2080e0ce6dc17ebf7657449ea84383d4', 0x40800000, 0x408011bc],
  // esptool-js v0.2.0–v0.2.1 built these from an esptool commit no release shipped: LEGACY_STUB
  ['esp32', LEGACY_STUB, 'esptool flasher_stub (unreleased build)', 'esptool-js v0.2.0–v0.2.1', '33bb58786d145d09f775613eb0827b81c83483cf56ced9c46455e34862f4dbf4', 0x400be000, 0x400be5d4],
  ['esp32s2', LEGACY_STUB, 'esptool flasher_stub (unreleased build)', 'esptool-js v0.2.0–v0.2.1', '2d1338caab3403bd59d73cb1fabf529c8b52a8a8fec28c4c794a0d79bfbd24a0', 0x40028000, 0x400287ec],
  ['esp32s3', LEGACY_STUB, 'esptool flasher_stub (unreleased build)', 'esptool-js v0.2.0–v0.2.1', 'f949859c8bb7210d5ce74df2169435e5b0a6ef55a4c0ce165ab9239f620c9dcd', 0x40378000, 0x40378a54],
  ['esp32c3', LEGACY_STUB, 'esptool flasher_stub (unreleased build)', 'esptool-js v0.2.0–v0.2.1', '5948c73627766c33a412ca101ac498c9ecde18462d5e6f87fb222ded1a4d182e', 0x40380000, 0x403806a2],
];

/** Every stub image of the catalogue, oldest release first. */
export const KNOWN_STUBS: readonly KnownStub[] = ROWS.map(
  ([chip, behaviour, release, shippedIn, textSha256, textStart, entry]) => ({
    chip,
    family: behaviour.family,
    release,
    shippedIn,
    textSha256,
    textStart,
    entry,
    behaviour,
  }),
);

/** The release whose behaviour RAM code outside the catalogue gets: the newest stub Espressif ships. */
export const NEWEST_STUB_RELEASE = 'esp-flasher-stub v1.2.2';

/** A segment uploaded with MEM_BEGIN/MEM_DATA. */
export interface RamSegment {
  address: number;
  data: Uint8Array;
}

/** What MEM_END(0, entry) starts. */
export type RamCode =
  /** A catalogued stub. */
  | { kind: 'known'; stub: KnownStub }
  /** Code the catalogue does not know, run as the newest stub of the chip (digest of the segment holding the entry). */
  | { kind: 'assumed'; stub: KnownStub; textSha256: string; textStart: number }
  /** Nothing the simulator can run: no uploaded segment holds the entry, or strict mode. */
  | { kind: 'unknown' };

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Identifies the code MEM_END(0, entry) starts. A catalogued image is
 * recognised by its text digest and load address (and the entry must lie in
 * it). Other code whose segment holds the entry is assumed to be a newer stub
 * release and runs as the chip's newest known one, unless `strict`.
 */
export function recogniseRamCode(
  chip: ChipName,
  segments: readonly RamSegment[],
  entryPoint: number,
  options: { strict?: boolean; catalogue?: readonly KnownStub[] } = {},
): RamCode {
  const catalogue = options.catalogue ?? KNOWN_STUBS;
  let holder: RamSegment | undefined;
  for (const segment of segments) {
    const inside = entryPoint >= segment.address && entryPoint < segment.address + segment.data.length;
    if (!inside) continue;
    holder = segment;
    const digest = sha256(segment.data);
    const stub = catalogue.find(
      (s) => s.chip === chip && s.textSha256 === digest && s.textStart === segment.address,
    );
    if (stub) return { kind: 'known', stub };
  }
  if (!holder || options.strict) return { kind: 'unknown' };
  const newest = catalogue.find((s) => s.chip === chip && s.release === NEWEST_STUB_RELEASE);
  if (!newest) return { kind: 'unknown' };
  return { kind: 'assumed', stub: newest, textSha256: sha256(holder.data), textStart: holder.address };
}
