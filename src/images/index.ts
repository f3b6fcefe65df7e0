// The public API of cryo's image format engine.

export { ImageError, ImageJsonError } from './errors.js';
export type { FieldValue, MessageValue, ScalarValue } from './value.js';
export { decode, encode } from './wire.js';
export { pyJsonDumps, parseJson, type JsonValue, type JsonObject } from './json-text.js';
export { messageToCrit, messageFromCrit } from './crit-json.js';
export { flagTables, dictGroups, PE_PARENT, PE_LAZY, PE_PRESENT } from './flags.js';
export { magicByName, magicName, magicValue, IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC } from './magics.js';
export { imageKind, imageKinds, type ImageKind } from './registry.js';
export type { ExtraValue } from './extras.js';
export {
  type Image,
  type ImageEntry,
  ImageReader,
  ImageWriter,
  createImageFile,
  precreateImageFiles,
  critJsonText,
  decodeImage,
  decodeImageFile,
  encodeImage,
  imageFromCrit,
  imageToCrit,
  writeImageFile,
  writeImageFileSoon,
} from './image.js';
export { PageReader, DEFAULT_PAGE_SIZE, type PageRun } from './pages.js';
export { PageWriter, type PageWriterOptions } from './page-writer.js';
export { imageFileName, imageFileMagic, imageFiles, type ImageFileKey } from './names.js';
export { PageChain, ChainError, checkChain, hashMemoryImages, parentDir, recordParentHashes, PARENT_LINK, PARENT_HASHES, type PageSegment } from './page-chain.js';
